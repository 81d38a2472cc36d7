package client

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"streamhub/internal/codec/envelope"
)

// logLines is a log sink that hands each record to the test.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

// TestSubscribeReportsCloseReason: an NDJSON stream's closing control line
// (close, with the server's reason) is understood by the CLI, which says
// why it reconnects instead of reporting an unexpected EOF.
func TestSubscribeReportsCloseReason(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintf(w, "%s\n%s\n",
			envelope.Control{Type: envelope.TypeSubscribed, Head: "e-1"}.Encode(),
			envelope.Control{Type: envelope.TypeClose, Reason: "slow_consumer"}.Encode())
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	log := make(logLines, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- c.Subscribe(ctx, []string{"a"}, SubscribeOptions{Log: slog.New(slog.NewTextHandler(log, nil))},
			func(envelope.Envelope, []byte) error { return nil })
	}()
	var retrying string
	select {
	case retrying = <-log:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnection logged")
	}
	go func() { // the subscriber may log again before it sees ctx end
		for range log {
		}
	}()
	cancel()
	<-done
	close(log)
	if !strings.Contains(retrying, "slow_consumer") {
		t.Errorf("the reconnection does not say the server closed for a slow consumer:\n%s", retrying)
	}
}
