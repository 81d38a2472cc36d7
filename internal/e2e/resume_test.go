package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestSSELastEventIDResume reconnects with the id of the last event seen and
// gets exactly what was published meanwhile; a cursor older than the
// history window gets an explicit gap (in memory and on pebble, where no
// durable stream keeps more).
func TestSSELastEventIDResume(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, sseLastEventIDResume, testkit.Memory, testkit.Pebble, testkit.JetStream)
}

func sseLastEventIDResume(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, func(c *config.Config) { c.History.Messages = 5 })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=r/%23", "text/event-stream")
	r := testkit.NewSSEReader(resp.Body)
	s.WaitFilters(t, 1)
	httpPublish(t, s.URL, "r/1", []byte("one"), "")
	ev, err := r.Next()
	if err != nil || ev.Data != "one" {
		t.Fatal(ev, err)
	}
	resp.Body.Close()
	httpPublish(t, s.URL, "r/2", []byte("two"), "")
	httpPublish(t, s.URL, "x/ignored", []byte("no"), "")
	httpPublish(t, s.URL, "r/3", []byte("three"), "")

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=r/%23", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", ev.ID)
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	r2 := testkit.NewSSEReader(resp2.Body)
	for _, want := range []string{"two", "three"} {
		if ev, err := r2.Next(); err != nil || ev.Data != want {
			t.Fatalf("resume: got %+v %v, want %q", ev, err, want)
		}
	}
	if e == testkit.JetStream {
		return // history.messages bounds the memory windows; the stream keeps "one"
	}
	for i := range 6 { // push "one" out of the 5-message window
		httpPublish(t, s.URL, "r/more", []byte(fmt.Sprint(i)), "")
	}
	req.Header.Set("Last-Event-ID", ev.ID)
	resp3, err := http.DefaultClient.Do(req.Clone(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp3.Body.Close()
	if resp3.Header.Get("Streamhub-Gap") != "true" {
		t.Error("no Streamhub-Gap header for an expired cursor")
	}
	if ev, err := testkit.NewSSEReader(resp3.Body).Next(); err != nil || ev.Event != "gap" {
		t.Fatalf("want a gap event first, got %+v %v", ev, err)
	}
}

// TestLongPollLoopMissesNothing publishes while the client is between polls.
func TestLongPollLoopMissesNothing(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, longPollLoopMissesNothing, testkit.Memory, testkit.Pebble, testkit.JetStream)
}

func longPollLoopMissesNothing(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, nil)
	ctx := t.Context()
	a, err := poll(ctx, s.URL, "lp/+", "", "0")
	if err != nil {
		t.Fatal(err)
	}
	cursor := a.Cursor
	var got []string
	for i := range 30 {
		// Publish between polls, some to a topic the filter excludes.
		httpPublish(t, s.URL, "lp/a", []byte(fmt.Sprint(i)), "")
		httpPublish(t, s.URL, "lp/a/b", []byte("excluded"), "")
		if i%3 != 0 {
			continue
		}
		a, err := poll(ctx, s.URL, "lp/+", cursor, "1s")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range a.Messages {
			got = append(got, e.Payload)
		}
		cursor = a.Cursor
	}
	for len(got) < 30 {
		a, err := poll(ctx, s.URL, "lp/+", cursor, "1s")
		if err != nil || len(a.Messages) == 0 {
			t.Fatalf("after %d messages: %v %+v", len(got), err, a)
		}
		for _, e := range a.Messages {
			got = append(got, e.Payload)
		}
		cursor = a.Cursor
	}
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: %q", i, p, got)
		}
	}
}

// TestRetainedOnEveryTransport: a retained message reaches each new
// subscriber first, and an empty retained publish clears it.
func TestRetainedOnEveryTransport(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, retainedOnEveryTransport) // not JetStream: a node keeps a retained message once Run delivers it, after the publish returned
}

func retainedOnEveryTransport(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, nil)
	httpPublish(t, s.URL, "ret/a", []byte("kept"), "?retain=true")
	httpPublish(t, s.URL, "ret/b", []byte("cleared"), "?retain=true")
	httpPublish(t, s.URL, "ret/b", nil, "?retain=true")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, sub := range []subscriber{sseSubscriber(), ndjsonSubscriber(), wsJSONSubscriber(), wsPlainSubscriber(), cliSubscriber()} {
		c := &collector{}
		sub.start(ctx, t, s, "ret/+", c)
		testkit.Eventually(t, 10*time.Second, sub.name+" retained", func() bool {
			got, _ := c.snapshot()
			return len(got) >= 1
		})
		time.Sleep(50 * time.Millisecond)
		got, err := c.snapshot()
		if err != nil || len(got) != 1 || string(got[0].payload) != "kept" {
			t.Errorf("%s: got %v %v, want just the retained message", sub.name, got, err)
		}
	}
}

// TestErrorsAreClear checks each bad request's status and JSON error body.
func TestErrorsAreClear(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Payload = 1024 })
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/v1/publish/a/%23", "x", 400, "invalid_topic"},
		{"POST", "/v1/publish/a/b?retain=maybe", "x", 400, "invalid_retain"},
		{"POST", "/v1/publish/big", strings.Repeat("x", 2000), 413, "payload_too_large"},
		{"GET", "/v1/subscribe", "", 400, "invalid_topic"},
		{"GET", "/v1/subscribe?topic=a/%23/b", "", 400, "invalid_topic"},
		{"GET", "/v1/subscribe?topic=a&cursor=bogus", "", 400, "invalid_cursor"},
		{"GET", "/v1/subscribe?topic=a&format=xml", "", 406, "unknown_format"},
		{"GET", "/v1/poll?topic=a&timeout=soon", "", 400, "invalid_timeout"},
		{"GET", "/v1/nothing", "", 404, "not_found"},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, s.URL+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != c.status || json.Unmarshal(body, &e) != nil || e.Error.Code != c.code || e.Error.Message == "" {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, resp.StatusCode, body, c.status, c.code)
		}
	}

	// WebSocket: the JSON protocol answers bad frames with an error reply
	// and stays open; a plain socket on a filter refuses publishes with 1008.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, frame := range []string{`not json`, `{"op":"pub","topic":"a/#"}`, `{"op":"fly"}`} {
		c.Write(ctx, websocket.MessageText, []byte(frame))
		_, data, err := c.Read(ctx)
		if err != nil || !strings.Contains(string(data), `"type":"error"`) {
			t.Errorf("%s: got %s %v", frame, data, err)
		}
	}
	c.Write(ctx, websocket.MessageText, []byte(`{"op":"ping","id":"p"}`))
	if _, data, err := c.Read(ctx); err != nil || string(data) != `{"type":"pong","id":"p"}` {
		t.Errorf("ping after errors: %s %v", data, err)
	}
	p, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/a/%2B", nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Write(ctx, websocket.MessageText, []byte("hi"))
	if _, _, err := p.Read(ctx); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("publish on a filter socket: %v", err)
	}
	big, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/a/b", nil)
	if err != nil {
		t.Fatal(err)
	}
	big.Write(ctx, websocket.MessageText, []byte(strings.Repeat("x", 2000)))
	if _, _, err := big.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Errorf("oversized frame: %v", err)
	}
}
