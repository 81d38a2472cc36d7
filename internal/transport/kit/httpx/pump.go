package httpx

import (
	"context"
	"net/http"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/deadline"
)

// Stream is a streaming response: the encoder that turns deliveries into
// bytes and the write and flush of the underlying connection.
type Stream struct {
	W http.ResponseWriter
	// Encode appends one delivery's wire bytes to buf.
	Encode func(buf []byte, d hub.Delivery) []byte
	// Heartbeat, when set, is written after Idle without traffic.
	Heartbeat []byte
	Idle      time.Duration
	// WriteTimeout bounds each write, so a stuck client cannot hold its
	// writer goroutine forever.
	WriteTimeout time.Duration
	Meter        kit.Meter
}

// Pump drains sub into the stream until ctx ends, the subscription ends or a
// write fails, coalescing everything queued into one write and one flush. It
// returns the subscription's end reason, ctx's error or the write error.
func (s *Stream) Pump(ctx context.Context, sub *hub.Subscription) error {
	rc := http.NewResponseController(s.W)
	idle := s.Idle
	if idle <= 0 {
		idle = 15 * time.Second
	}
	// The heartbeat timer is not re-armed per write: when it fires early
	// it waits out the rest of the idle span since the last write.
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var lastWrite time.Time
	var writeDL deadline.Lazy
	var batch []hub.Delivery
	var buf []byte
	write := func(b []byte) error {
		now := time.Now()
		lastWrite = now
		if at, set := writeDL.Next(now, s.WriteTimeout); set {
			_ = rc.SetWriteDeadline(at)
		}
		if _, err := s.W.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// send writes everything queued as one write and one flush.
	send := func() error {
		batch = sub.Drain(batch)
		if len(batch) == 0 {
			return nil
		}
		buf = buf[:0]
		for _, d := range batch {
			buf = s.Encode(buf, d)
		}
		err := write(buf)
		if err == nil {
			s.Meter.Sent(len(batch))
		}
		clear(batch)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.Done():
			// Deliver what was queued before a shutdown; a slow consumer's
			// queue is already gone.
			_ = send()
			return sub.Err()
		case <-sub.Ready():
			if err := send(); err != nil {
				return err
			}
		case <-timer.C:
			if quiet := time.Since(lastWrite); quiet < idle {
				timer.Reset(idle - quiet)
				continue
			}
			if s.Heartbeat != nil {
				if err := write(s.Heartbeat); err != nil {
					return err
				}
			}
			timer.Reset(idle)
		}
	}
}
