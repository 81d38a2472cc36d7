package mqtt

import (
	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/message"
)

// codeSlowConsumer is the DISCONNECT reason of a client cut off because its
// session's queue overflowed.
var codeSlowConsumer = packets.Code{Code: packets.ErrQuotaExceeded.Code, Reason: "slow consumer: session queue full"}

// overflowed is the session queue's overflow hook: the hub dropped messages
// because they came faster than the client read them. A connected client
// is cut off as a slow consumer rather than thinned silently, but only for
// a message queued while it was connected: a backlog gathered while the
// session was detached (nobody to tell, so it dropped its oldest) drains
// without cutting off the client that came back for it. Called under hub
// locks: it must not block.
func (ss *session) overflowed(dropped *message.Message) bool {
	c := ss.active.Load()
	if c == nil || dropped.Time.UnixNano() < c.since {
		return false
	}
	return c.cutOff()
}

// cutOff closes the connection as a slow consumer without blocking; the
// DISCONNECT (v5) follows the write in progress, unless the write deadline
// passes first. It reports whether this call cut the connection off.
func (c *conn) cutOff() bool {
	if c.done.Closed() {
		return false
	}
	code := codeSlowConsumer
	if !c.setReason(&code) {
		return false
	}
	go func() {
		c.srv.log.Warn("slow consumer disconnected: session queue full", "transport", "mqtt",
			"client", c.sess.id, "remote", c.nc.RemoteAddr().String(), "queue_messages", c.srv.cfg.Queue.Messages,
			"queue_bytes", c.srv.cfg.Queue.Bytes)
		c.close()
	}()
	return true
}
