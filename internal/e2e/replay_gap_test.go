package e2e

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/codec/wsproto"
	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestReplayPastWindowReportsGap (issue 24, item 12): from=SEQ, from=TIME
// and last=N reaching past the history window get a gap and what is still
// held, on every streaming transport; NDJSON used to panic in its handler
// and leak the subscription, its admin listing and its connection count.
func TestReplayPastWindowReportsGap(t *testing.T) {
	testkit.EachEngine(t, replayPastWindowReportsGap) // JetStream keeps what the windows lose: no gap
}

func replayPastWindowReportsGap(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, func(c *config.Config) { c.History.Messages = 2 })
	before := time.Now().Add(-time.Second)
	var cursors []message.Cursor
	for _, p := range []string{"p0", "p1", "p2", "p3", "p4"} {
		c, err := s.Hub().Publish(t.Context(), &message.Message{Topic: "t/a", Payload: []byte(p)})
		if err != nil {
			t.Fatal(err)
		}
		cursors = append(cursors, c)
	}
	held := []string{"p3", "p4"}
	// from=TIME before every message: the windows lost some since, and
	// the data directory's store keeps no message of a topic no durable
	// stream covers: a gap on both.
	queries := []string{"from=1", "last=5", "from=" + url.QueryEscape(before.UTC().Format(time.RFC3339Nano))}
	h2c := func() *http.Client {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		return &http.Client{Transport: &http.Transport{Protocols: &p}}
	}()
	defer h2c.CloseIdleConnections()
	for _, client := range []*http.Client{http.DefaultClient, h2c} {
		for _, q := range queries {
			for _, accept := range []string{"application/x-ndjson", "text/event-stream"} {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/v1/subscribe?topic=t/a&"+q, nil)
				req.Header.Set("Accept", accept)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", accept, q, err)
				}
				gap, got := readReplay(t, resp, len(held))
				resp.Body.Close()
				if resp.Header.Get("Streamhub-Gap") != "true" || !gap || strings.Join(got, " ") != strings.Join(held, " ") {
					t.Errorf("%s %s over %s: gap header %q, gap event %v, messages %q; want a gap and %q",
						accept, q, resp.Proto, resp.Header.Get("Streamhub-Gap"), gap, got, held)
				}
			}
		}
	}

	// Long polling and the WebSocket JSON protocol take a cursor (and
	// WebSocket from= and last= too).
	resp, err := http.Get(s.URL + "/v1/poll?topic=t/a&timeout=0&cursor=" + cursors[0].String())
	if err != nil {
		t.Fatal(err)
	}
	var poll struct {
		Gap      bool
		Messages []struct{ Payload string }
	}
	json.NewDecoder(resp.Body).Decode(&poll)
	resp.Body.Close()
	if !poll.Gap || len(poll.Messages) != 2 || poll.Messages[0].Payload != "p3" {
		t.Errorf("long poll past the window: %+v", poll)
	}
	for _, sub := range []wsproto.Request{{Cursor: cursors[0].String()}, {From: "1"}, {Last: 5}} {
		c, _, err := websocket.Dial(t.Context(), s.WSURL+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		sub.Op, sub.Topics = wsproto.OpSubscribe, []string{"t/a"}
		b, _ := json.Marshal(sub)
		c.Write(t.Context(), websocket.MessageText, b)
		var gap, subscribed bool
		var got []string
		// The reply may come after the replay has begun.
		for len(got) < len(held) || !subscribed {
			_, data, err := c.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var e struct {
				Type, Payload string
				Gap           bool
			}
			json.Unmarshal(data, &e)
			gap = gap || e.Gap
			subscribed = subscribed || e.Type == "subscribed"
			if e.Type == "message" {
				got = append(got, e.Payload)
			}
		}
		c.CloseNow()
		if !gap || strings.Join(got, " ") != strings.Join(held, " ") {
			t.Errorf("WebSocket %s: gap %v, messages %q", b, gap, got)
		}
	}

	// Every subscriber gone: nothing left subscribed, listed or counted.
	testkit.Eventually(t, 20*time.Second, "subscribers, listings and connection counts released", func() bool {
		metrics := scrape(t, s.URL)
		clients := adminClients(t, s.URL)
		return s.Hub().Stats().Subscriptions == 0 && clients == 0 &&
			strings.Contains(metrics, `streamhub_connections{transport="ndjson"} 0`) &&
			strings.Contains(metrics, `streamhub_connections{transport="sse"} 0`)
	})
}

// readReplay reads a stream (NDJSON or SSE) until n messages, reporting
// whether a gap came first.
func readReplay(t *testing.T, resp *http.Response, n int) (gap bool, got []string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("answered %s", resp.Status)
	}
	// next returns the stream's next item: a gap, a message's payload or
	// neither (a control line, an id-only event).
	var next func() (isGap bool, payload string, err error)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		r := testkit.NewSSEReader(resp.Body)
		next = func() (bool, string, error) {
			ev, err := r.Next()
			return ev.Event == "gap", ev.Data, err
		}
	} else {
		br := bufio.NewReader(resp.Body)
		next = func() (bool, string, error) {
			l, err := br.ReadBytes('\n')
			var e struct{ Type, Payload, Topic string }
			json.Unmarshal(l, &e)
			if e.Topic == "" {
				e.Payload = ""
			}
			return e.Type == "gap", e.Payload, err
		}
	}
	for len(got) < n {
		isGap, payload, err := next()
		switch {
		case err != nil:
			t.Fatalf("%s ended after %q: %v", resp.Header.Get("Content-Type"), got, err)
		case isGap:
			gap = len(got) == 0
		case payload != "":
			got = append(got, payload)
		}
	}
	return gap, got
}

// adminClients is how many connections /v1/admin/clients lists.
func adminClients(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/v1/admin/clients")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Clients []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("/v1/admin/clients: %s: %v", resp.Status, err)
	}
	return len(body.Clients)
}
