package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"streamhub/internal/core/hub"
)

// Counters documented in /metrics are there from the start at 0: an alert
// on rate(streamhub_messages_dropped_total) needs a series to rate.
func TestCountersExistAtZero(t *testing.T) {
	m := New(func() hub.Stats { return hub.Stats{} })
	m.Transport("mqtt")
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`streamhub_messages_dropped_total{transport="mqtt"} 0`,
		`streamhub_messages_dropped_total{transport="sse"} 0`,
		`streamhub_slow_consumer_disconnects_total{transport="ws"} 0`,
		`streamhub_messages_in_total{transport="mqtt"} 0`,
		`streamhub_connections{transport="mqtt"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %s", want)
		}
	}
}
