package hub

import (
	"context"
	"errors"
	"fmt"

	"streamhub/internal/core/message"
)

// ErrRetainedQuota refuses a retained message on a new topic once the
// retained messages are at their bounds (Config.RetainedMessages,
// RetainedBytes, and the publisher's RetainedUserMessages,
// RetainedUserBytes); replacing or clearing a retained message is always
// possible. MQTT 5 answers 0x97 (quota exceeded), HTTP 507.
var ErrRetainedQuota = errors.New("retained messages are at their bound")

// retainedSize is what a retained message counts against the byte bounds.
func retainedSize(m *message.Message) int64 { return int64(len(m.Topic) + len(m.Payload)) }

type publisherKey struct{}

// PublishedBy returns ctx telling Publish that user publishes m, for the
// per-user bounds of retained messages (only a retained message needs it;
// for others ctx is returned as it is).
func PublishedBy(ctx context.Context, m *message.Message, user string) context.Context {
	if !m.Retain || user == "" {
		return ctx
	}
	return context.WithValue(ctx, publisherKey{}, user)
}

func publisherOf(ctx context.Context) string {
	user, _ := ctx.Value(publisherKey{}).(string)
	return user
}

// checkRetainedRoom refuses m, a retained message to be kept, when it
// would take the retained messages past their bounds: a new topic past a
// count, or a message growing what is kept past a byte bound. Admitted, m
// is counted against its publisher (ctx's) at once.
func (h *Hub) checkRetainedRoom(ctx context.Context, m *message.Message) error {
	c := h.cfg
	if c.RetainedMessages <= 0 && c.RetainedBytes <= 0 && c.RetainedUserMessages <= 0 && c.RetainedUserBytes <= 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	size := retainedSize(m)
	grow := size
	old := h.retained[m.Topic]
	if old != nil {
		grow -= retainedSize(old)
	} else if c.RetainedMessages > 0 && len(h.retained) >= c.RetainedMessages {
		return fmt.Errorf("%w: %d messages (retained.messages)", ErrRetainedQuota, c.RetainedMessages)
	}
	if c.RetainedBytes > 0 && grow > 0 && h.retainedBytes+grow > c.RetainedBytes {
		return fmt.Errorf("%w: %d bytes (retained.bytes)", ErrRetainedQuota, c.RetainedBytes)
	}
	return h.owners.admit(m.Topic, publisherOf(ctx), size, c.RetainedUserMessages, c.RetainedUserBytes,
		func(name string) bool { return h.retained[name] != nil })
}

// putRetainedLocked keeps m as its topic's retained message; the caller
// holds mu.
func (h *Hub) putRetainedLocked(m *message.Message) {
	if old := h.retained[m.Topic]; old != nil {
		h.retainedBytes -= retainedSize(old)
	}
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
	h.owners.forget(name)
}

// retainedOwners counts the retained messages each user published on this
// node, for the per-user bounds; guarded by Hub.mu. Messages loaded from
// the engine at start or delivered by other nodes belong to nobody here.
type retainedOwners struct {
	of  map[string]ownedTopic // topic → who set its retained message
	use map[string]*ownerUse
}

type ownedTopic struct {
	user string
	size int64
}

type ownerUse struct {
	count int
	bytes int64
}

// admit counts the retained message of size on name against user, unless
// that takes user past maxCount or maxBytes (0: no bound). kept reports
// whether a topic still has a retained message: a count left by a publish
// that never got stored is dropped before refusing.
func (o *retainedOwners) admit(name, user string, size int64, maxCount int, maxBytes int64, kept func(string) bool) error {
	if maxCount <= 0 && maxBytes <= 0 {
		return nil
	}
	if user == "" {
		o.forget(name)
		return nil
	}
	if o.of == nil {
		o.of, o.use = make(map[string]ownedTopic), make(map[string]*ownerUse)
	}
	after := func() (int, int64) {
		u := o.use[user]
		if u == nil {
			return 1, size
		}
		if prev, ok := o.of[name]; ok && prev.user == user {
			return u.count, u.bytes - prev.size + size
		}
		return u.count + 1, u.bytes + size
	}
	over := func() error {
		count, bytes := after()
		switch {
		case maxCount > 0 && count > maxCount:
			return fmt.Errorf("%w: %d messages of one user (retained.usermessages)", ErrRetainedQuota, maxCount)
		case maxBytes > 0 && bytes > maxBytes:
			return fmt.Errorf("%w: %d bytes of one user (retained.userbytes)", ErrRetainedQuota, maxBytes)
		}
		return nil
	}
	if over() != nil {
		for topic, owned := range o.of {
			if owned.user == user && topic != name && !kept(topic) {
				o.forget(topic)
			}
		}
		if err := over(); err != nil {
			return err
		}
	}
	o.forget(name)
	u := o.use[user]
	if u == nil {
		u = &ownerUse{}
		o.use[user] = u
	}
	o.of[name] = ownedTopic{user: user, size: size}
	u.count++
	u.bytes += size
	return nil
}

// forget stops counting name against its owner.
func (o *retainedOwners) forget(name string) {
	owned, ok := o.of[name]
	if !ok {
		return
	}
	delete(o.of, name)
	if u := o.use[owned.user]; u != nil {
		if u.count--; u.count == 0 {
			delete(o.use, owned.user)
		} else {
			u.bytes -= owned.size
		}
	}
}
