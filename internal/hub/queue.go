package hub

import (
	"errors"
	"fmt"
)

// Policy is what a full subscriber queue does with the next message.
type Policy int

const (
	// DropOldest discards the oldest queued message, counting the drop. The
	// subscriber stays connected; with history it can detect the gap.
	DropOldest Policy = iota
	// Disconnect ends the subscription with ErrSlowConsumer; the transport
	// closes the connection with its protocol's reason, and the client can
	// resume from its cursor.
	Disconnect
)

func (p Policy) String() string {
	if p == Disconnect {
		return "disconnect"
	}
	return "drop-oldest"
}

// ParsePolicy parses "drop-oldest" or "disconnect".
func ParsePolicy(s string) (Policy, error) {
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
	Policy   Policy
}

// Reasons a subscription ends; transports map them onto their protocol.
var (
	ErrSlowConsumer = errors.New("slow consumer: queue limit exceeded")
	ErrShutdown     = errors.New("server shutting down")
	ErrClosed       = errors.New("subscription closed")
)
