package hub

import (
	"errors"
	"fmt"

	"streamhub/internal/core/message"
)

// ErrRetainedQuota refuses a retained message on a new topic once the
// retained messages are at their bound (Config.RetainedMessages,
// RetainedBytes); replacing or clearing a retained message is always
// possible. MQTT 5 answers 0x97 (quota exceeded), HTTP 507.
var ErrRetainedQuota = errors.New("retained messages are at their bound")

// retainedSize is what a retained message counts against RetainedBytes.
func retainedSize(m *message.Message) int64 { return int64(len(m.Topic) + len(m.Payload)) }

// checkRetainedRoom refuses m, a retained message to be kept, when it
// would take the retained messages past their bounds: a new topic past
// either bound, or a replacement growing past the byte bound.
func (h *Hub) checkRetainedRoom(m *message.Message) error {
	maxCount, maxBytes := h.cfg.RetainedMessages, h.cfg.RetainedBytes
	if maxCount <= 0 && maxBytes <= 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	grow := retainedSize(m)
	old := h.retained[m.Topic]
	if old != nil {
		grow -= retainedSize(old)
	} else if maxCount > 0 && len(h.retained) >= maxCount {
		return fmt.Errorf("%w: %d messages (retained.messages)", ErrRetainedQuota, maxCount)
	}
	if maxBytes > 0 && grow > 0 && h.retainedBytes+grow > maxBytes {
		return fmt.Errorf("%w: %d bytes (retained.bytes)", ErrRetainedQuota, maxBytes)
	}
	return nil
}

// putRetainedLocked keeps m as its topic's retained message; the caller
// holds mu.
func (h *Hub) putRetainedLocked(m *message.Message) {
	h.dropRetainedLocked(m.Topic)
	h.retained[m.Topic] = m
	h.retainedBytes += retainedSize(m)
}

// dropRetainedLocked forgets the retained message on name; the caller
// holds mu.
func (h *Hub) dropRetainedLocked(name string) {
	if old := h.retained[name]; old != nil {
		h.retainedBytes -= retainedSize(old)
		delete(h.retained, name)
	}
}
