package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/codec/wsproto"
	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// publishCursor publishes over HTTP and returns the message's cursor.
func publishCursor(t *testing.T, base, topic, payload string) string {
	t.Helper()
	resp, err := http.Post(base+"/v1/publish/"+topic, "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Cursor string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("publish: %d %v", resp.StatusCode, err)
	}
	return r.Cursor
}

// durableConfig keeps streams in the data directory dir, named so that a
// server started again (on testkit.Pebble) finds what the first stored.
func durableConfig(dir string, streams ...config.DurableStream) func(*config.Config) {
	return func(c *config.Config) {
		c.Data = dir
		c.Durable.Streams = streams
	}
}

// TestDurableResumeAcrossRestart: messages on a durable topic keep their
// cursors across a restart, and every protocol resumes from a cursor taken
// before it: SSE Last-Event-ID, NDJSON and long-poll cursors, the
// WebSocket JSON protocol and TCP's SUB ... FROM.
func TestDurableResumeAcrossRestart(t *testing.T) {
	t.Parallel()
	mutate := durableConfig(t.TempDir(), config.DurableStream{Filter: "d/#"})
	s := testkit.StartOn(t, testkit.Pebble, mutate)
	var cursors []string
	var beforeFour time.Time
	for i := 1; i <= 5; i++ {
		if i == 4 {
			beforeFour = time.Now()
		}
		cursors = append(cursors, publishCursor(t, s.URL, "d/x", fmt.Sprint(i)))
	}
	s.Stop(t)
	s = testkit.StartOn(t, testkit.Pebble, func(c *config.Config) { mutate(c); c.TCP.Addr = "127.0.0.1:0" })
	for i := 6; i <= 8; i++ {
		c := publishCursor(t, s.URL, "d/x", fmt.Sprint(i))
		prev, _ := message.ParseCursor(cursors[len(cursors)-1])
		if next, _ := message.ParseCursor(c); next.Epoch != prev.Epoch || next.Seq <= prev.Seq {
			t.Fatalf("cursor %s after restart does not follow %s", c, cursors[len(cursors)-1])
		}
		cursors = append(cursors, c)
	}
	from := cursors[1] // after message 2
	want := "3 4 5 6 7 8"
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// SSE, as a reconnecting EventSource does.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=d/%23", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", from)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Streamhub-Gap") != "" {
		t.Error("gap reported for a stored history")
	}
	r := testkit.NewSSEReader(resp.Body)
	var got []string
	for len(got) < 6 {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev.Data)
		if ev.ID != cursors[len(got)+1] {
			t.Errorf("event %s has id %s, want %s", ev.Data, ev.ID, cursors[len(got)+1])
		}
	}
	resp.Body.Close()
	if strings.Join(got, " ") != want {
		t.Errorf("SSE resume got %q", got)
	}

	// Long polling.
	a, err := poll(ctx, s.URL, "d/#", from, "0")
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for _, e := range a.Messages {
		got = append(got, e.Payload)
	}
	next, _ := message.ParseCursor(a.Cursor)
	if last, _ := message.ParseCursor(cursors[7]); strings.Join(got, " ") != want || next.Seq < last.Seq {
		t.Errorf("long poll got %q, cursor %s", got, a.Cursor)
	}

	// WebSocket JSON protocol.
	c, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	b, _ := json.Marshal(wsproto.Request{Op: wsproto.OpSubscribe, Topics: []string{"d/#"}, Cursor: from})
	c.Write(ctx, websocket.MessageText, b)
	got = got[:0]
	for len(got) < 6 {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Type, Payload string }
		json.Unmarshal(data, &e)
		if e.Type == "message" {
			got = append(got, e.Payload)
		}
	}
	if strings.Join(got, " ") != want {
		t.Errorf("WebSocket resume got %q", got)
	}

	// TCP text protocol.
	tc, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	fmt.Fprintf(tc, "SUB d/# FROM %s\n", from)
	tr := bufio.NewReader(tc)
	got = got[:0]
	for len(got) < 6 {
		line, err := tr.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "MSG ") {
			payload, _ := tr.ReadString('\n')
			got = append(got, strings.TrimSuffix(payload, "\n"))
		}
	}
	if strings.Join(got, " ") != want {
		t.Errorf("TCP resume got %q", got)
	}

	// Starting points other than a cursor, on the NDJSON stream.
	four, _ := message.ParseCursor(cursors[3])
	for _, c := range []struct{ query, want string }{
		{"last=3", "6 7 8"},
		{"last=4", "5 6 7 8"},
		{"from=" + fmt.Sprint(four.Seq), "4 5 6 7 8"},
		{"from=" + url.QueryEscape(beforeFour.UTC().Format(time.RFC3339Nano)), "4 5 6 7 8"},
	} {
		col := &collector{}
		resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=d/%23&"+c.query, "application/x-ndjson")
		go func() { defer resp.Body.Close(); readEnvelopes(resp.Body, col) }()
		n := len(strings.Fields(c.want))
		testkit.Eventually(t, 10*time.Second, c.query, func() bool { g, _ := col.snapshot(); return len(g) >= n })
		g, _ := col.snapshot()
		var ps []string
		for _, m := range g {
			ps = append(ps, string(m.payload))
		}
		if strings.Join(ps, " ") != c.want {
			t.Errorf("%s: got %q, want %s", c.query, ps, c.want)
		}
	}
}

// TestDurableGapAfterRetention: a cursor older than a stream's retention
// is answered with an explicit gap, and what is kept is replayed.
func TestDurableGapAfterRetention(t *testing.T) {
	t.Parallel()
	mutate := durableConfig(t.TempDir(), config.DurableStream{Filter: "g/#", Messages: 3})
	s := testkit.StartOn(t, testkit.Pebble, mutate)
	first := publishCursor(t, s.URL, "g/x", "1")
	for i := 2; i <= 10; i++ {
		publishCursor(t, s.URL, "g/x", fmt.Sprint(i))
	}
	s.Stop(t) // retention runs in the background; a restart empties the memory window
	s = testkit.StartOn(t, testkit.Pebble, mutate)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	testkit.Eventually(t, 10*time.Second, "retention", func() bool {
		a, err := poll(ctx, s.URL, "g/#", first, "0")
		return err == nil && a.Gap && len(a.Messages) == 3
	})
	a, _ := poll(ctx, s.URL, "g/#", first, "0")
	if a.Messages[0].Payload != "8" || a.Messages[2].Payload != "10" {
		t.Fatalf("kept %+v", a.Messages)
	}
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=g/%23&cursor="+first, "application/x-ndjson")
	defer resp.Body.Close()
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 1<<16)).ReadString('\n')
	if resp.Header.Get("Streamhub-Gap") != "true" {
		t.Errorf("NDJSON: no gap header (first line %s)", line)
	}
}

// TestMQTTSessionAndRetainedSurviveRestart: a persistent MQTT session, the
// QoS 1 messages queued for it on a durable topic, and retained messages
// are all there after a restart.
func TestMQTTSessionAndRetainedSurviveRestart(t *testing.T) {
	t.Parallel()
	mutate := durableConfig(t.TempDir(), config.DurableStream{Filter: "fleet/#"})
	s := testkit.StartOn(t, testkit.Pebble, mutate)
	var mu sync.Mutex
	var got []string
	opts := func(s *testkit.Server) *paho3.ClientOptions {
		return paho3.NewClientOptions().AddBroker("tcp://" + s.MQTT().Addr("mqtt").String()).
			SetClientID("device-7").SetCleanSession(false).SetAutoReconnect(false).
			SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
				mu.Lock()
				got = append(got, string(m.Payload()))
				mu.Unlock()
			})
	}
	c := paho3.NewClient(opts(s))
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	if tok := c.Subscribe("fleet/+/cmd", 1, nil); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	c.Disconnect(100)
	httpPublish(t, s.URL, "config/site", []byte("retained across restarts"), "?retain=true")
	for i := 1; i <= 3; i++ {
		httpPublish(t, s.URL, "fleet/7/cmd", []byte(fmt.Sprint("before ", i)), "")
	}
	s.Stop(t)

	s = testkit.StartOn(t, testkit.Pebble, mutate)
	for i := 1; i <= 2; i++ {
		httpPublish(t, s.URL, "fleet/7/cmd", []byte(fmt.Sprint("after ", i)), "")
	}
	c = paho3.NewClient(opts(s))
	tok := c.Connect()
	if tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	if !tok.(*paho3.ConnectToken).SessionPresent() {
		t.Error("session not present after the restart")
	}
	want := []string{"before 1", "before 2", "before 3", "after 1", "after 2"}
	testkit.Eventually(t, 10*time.Second, "the queued messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	mu.Lock()
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	mu.Unlock()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	col := &collector{}
	sseSubscriber().start(ctx, t, s, "config/#", col)
	testkit.Eventually(t, 10*time.Second, "the retained message", func() bool { g, _ := col.snapshot(); return len(g) == 1 })
	if g, _ := col.snapshot(); string(g[0].payload) != "retained across restarts" {
		t.Errorf("retained: %q", g[0].payload)
	}
}

// TestForeignEpochCursorReplaysWhatIsHeld: a cursor from an epoch this
// server does not know replays everything still held for the filter, with
// a gap, the same before and after a restart with a data directory (issue
// 14 item 14: after a restart it replayed nothing, although EPOCH-0 still
// returned every stored message).
func TestForeignEpochCursorReplaysWhatIsHeld(t *testing.T) {
	t.Parallel()
	mutate := durableConfig(t.TempDir(), config.DurableStream{Filter: "e/#"})
	s := testkit.StartOn(t, testkit.Pebble, mutate)
	var epoch string
	for i := 1; i <= 4; i++ {
		c, _ := message.ParseCursor(publishCursor(t, s.URL, "e/x", fmt.Sprintf("m%d", i)))
		epoch = c.Epoch
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	expectReplay := func(stage, cursor string, gap bool) {
		t.Helper()
		a, err := poll(ctx, s.URL, "e/#", cursor, "0")
		if err != nil {
			t.Fatalf("%s, cursor %s: %v", stage, cursor, err)
		}
		var got []string
		for _, m := range a.Messages {
			got = append(got, m.Payload)
		}
		if strings.Join(got, " ") != "m1 m2 m3 m4" || a.Gap != gap {
			t.Errorf("%s, cursor %s: got %q gap %v, want m1–m4 gap %v", stage, cursor, got, a.Gap, gap)
		}
	}
	foreign := "zz" + epoch + "-2"
	expectReplay("before the restart", foreign, true)
	expectReplay("before the restart", epoch+"-0", false)
	s.Stop(t)
	s = testkit.StartOn(t, testkit.Pebble, mutate)
	expectReplay("after the restart", foreign, true)
	expectReplay("after the restart", epoch+"-0", false)

	// A streaming subscriber is told about the gap before the replay.
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=e/%23&cursor="+foreign, "application/x-ndjson")
	defer resp.Body.Close()
	if resp.Header.Get("Streamhub-Gap") != "true" {
		t.Error("NDJSON: no gap header for a foreign epoch")
	}
	lines := json.NewDecoder(resp.Body)
	var types []string
	for {
		var line struct{ Type, Payload string }
		if err := lines.Decode(&line); err != nil {
			t.Fatalf("NDJSON after %v: %v", types, err)
		}
		if line.Type != "message" {
			types = append(types, line.Type)
			continue
		}
		if line.Payload != "m1" || !slices.Contains(types, "gap") {
			t.Errorf("NDJSON: first message %q after %v, want m1 after a gap", line.Payload, types)
		}
		return
	}
}
