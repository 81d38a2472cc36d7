package hub

import (
	"errors"
	"fmt"
	"sync/atomic"

	"streamhub/internal/core/engine"
)

// Overflow is what a full subscriber queue does with the next message.
type Overflow int

const (
	// DropOldest discards the oldest queued message, counting the drop. The
	// subscriber stays connected; with history it can detect the gap.
	DropOldest Overflow = iota
	// Disconnect ends the subscription with ErrSlowConsumer; the transport
	// closes the connection with its protocol's reason, and the client can
	// resume from its cursor.
	Disconnect
)

func (p Overflow) String() string {
	if p == Disconnect {
		return "disconnect"
	}
	return "drop-oldest"
}

// ParseOverflow parses "drop-oldest" or "disconnect".
func ParseOverflow(s string) (Overflow, error) {
	switch s {
	case "drop-oldest", "drop":
		return DropOldest, nil
	case "disconnect":
		return Disconnect, nil
	}
	return 0, fmt.Errorf("unknown slow-consumer policy %q (want drop-oldest or disconnect)", s)
}

// QueueLimits bound one subscriber's queue of undelivered messages.
type QueueLimits struct {
	Messages int
	Bytes    int
	Overflow Overflow
}

// Reasons a subscription ends; transports map them onto their protocol.
var (
	ErrSlowConsumer = errors.New("slow consumer: queue limit exceeded")
	ErrShutdown     = engine.ErrShutdown
	ErrClosed       = errors.New("subscription closed")
)

// budget bounds the bytes that all subscriber queues hold together. Past
// its total, a queue holding at least its share (the total over the
// number of queues not empty) overflows as if it had reached its own
// limits, so the queues of stalled consumers give way, not those of the
// healthy ones. Queues under their share still take messages; together
// they hold less than the total, so all queues hold at most about twice
// the total.
type budget struct {
	total  int64 // 0: no limit
	bytes  atomic.Int64
	queues atomic.Int64 // queues holding live messages
}

// add records a queue going from wasLive to live messages and by bytes.
func (b *budget) add(wasLive, live, bytes int) {
	b.bytes.Add(int64(bytes))
	switch {
	case wasLive == 0 && live > 0:
		b.queues.Add(1)
	case wasLive > 0 && live == 0:
		b.queues.Add(-1)
	}
}

// over reports whether a queue holding held bytes must make room before
// taking size more.
func (b *budget) over(held, size int) bool {
	if b.total <= 0 || b.bytes.Load()+int64(size) <= b.total {
		return false
	}
	return int64(held) >= b.total/max(b.queues.Load(), 1)
}
