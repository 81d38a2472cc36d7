package httpx

import (
	"context"
	"net/http"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/transport/kit"
)

// Pump drains sub into a streaming response with a kit.Writer whose Write
// is one write and one flush of w, until ctx ends, the subscription ends
// or a write fails. It returns the subscription's end reason, ctx's error
// or the write error. A heartbeat, when set, is written after idle without
// traffic (15 s when idle is not set).
func Pump(ctx context.Context, w http.ResponseWriter, sub *hub.Subscription, wr kit.Writer, heartbeat []byte, idle time.Duration) error {
	rc := http.NewResponseController(w)
	wr.Write = func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	// On HTTP/2 a deadline reached while idle resets the stream.
	wr.SetWriteDeadline, wr.DeadlineFiresIdle = rc.SetWriteDeadline, true
	if heartbeat != nil {
		wr.Heartbeat = func() ([]byte, error) { return heartbeat, nil }
		wr.HeartbeatEvery = idle
		if idle <= 0 {
			wr.HeartbeatEvery = 15 * time.Second
		}
	}
	_, err := wr.Run(ctx, sub, nil)
	return err
}
