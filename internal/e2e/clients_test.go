package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/coder/websocket"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/codec/wsproto"
	"streamhub/internal/testkit"
)

// A publisher sends one payload to a topic by one protocol.
type publisher struct {
	name string
	open func(t *testing.T, s *testkit.Server, topic string) func(payload []byte)
}

// A received message as a subscriber saw it.
type received struct {
	topic   string
	payload []byte
	cursor  string // TCP text after CURSORS
}

// collector gathers what one subscriber receives.
type collector struct {
	countOnly bool // keep no payloads, for load tests that measure memory
	mu        sync.Mutex
	msgs      []received
	err       error
}

func (c *collector) add(topic string, p []byte) { c.addAt(topic, p, "") }

// addAt adds a message that came with its cursor.
func (c *collector) addAt(topic string, p []byte, cursor string) {
	c.mu.Lock()
	if c.countOnly {
		p = nil
	}
	c.msgs = append(c.msgs, received{topic, bytes.Clone(p), cursor})
	c.mu.Unlock()
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

func (c *collector) snapshot() ([]received, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.msgs...), c.err
}

// A subscriber receives messages matching filter by one protocol until ctx ends.
type subscriber struct {
	name       string
	persistent bool // holds a hub subscription while it waits (a long poll loop nearly always does)
	start      func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector)
}

func postPublisher() publisher {
	return publisher{"http-post", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		return func(p []byte) { httpPublish(t, s.URL, topic, p, "") }
	}}
}

func httpPublish(t *testing.T, base, topic string, p []byte, query string) {
	t.Helper()
	resp, err := http.Post(base+"/v1/publish/"+topic+query, "application/octet-stream", bytes.NewReader(p))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish to %s: %s %s", topic, resp.Status, body)
	}
}

func wsJSONPublisher() publisher {
	return publisher{"ws-json", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		ctx := t.Context()
		c, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadLimit(-1)
		t.Cleanup(func() { c.CloseNow() })
		n := 0
		return func(p []byte) {
			n++
			req := wsproto.Request{Op: wsproto.OpPublish, ID: fmt.Sprint(n), Topic: topic}
			req.Encoding, req.Payload = envelope.EncodePayload(p)
			b, _ := json.Marshal(req)
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				t.Fatal(err)
			}
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var rep envelope.Control
			if err := json.Unmarshal(data, &rep); err != nil || rep.Type != envelope.TypeAck || rep.ID != req.ID {
				t.Fatalf("want ack %s, got %s (%v)", req.ID, data, err)
			}
		}
	}}
}

func wsPlainPublisher() publisher {
	return publisher{"ws-plain", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		ctx := t.Context()
		c, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/"+topic+"?retained=false", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		go func() { // it echoes our own topic back; discard that
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
		return func(p []byte) {
			typ := websocket.MessageText
			if !utf8.Valid(p) {
				typ = websocket.MessageBinary
			}
			if err := c.Write(ctx, typ, p); err != nil {
				t.Fatal(err)
			}
		}
	}}
}

func cliPublisher() publisher {
	return publisher{"cli", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		dir := t.TempDir()
		n := 0
		return func(p []byte) {
			n++
			f := filepath.Join(dir, fmt.Sprint(n))
			if err := os.WriteFile(f, p, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(cliPath, "pub", "--server", s.URL, "--file", f, topic).CombinedOutput(); err != nil {
				t.Fatalf("streamhub pub: %v\n%s", err, out)
			}
		}
	}}
}

func sseSubscriber() subscriber {
	return subscriber{"sse", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic="+url.QueryEscape(filter), "text/event-stream")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
		go func() {
			defer resp.Body.Close()
			r := testkit.NewSSEReader(resp.Body)
			for {
				ev, err := r.Next()
				if err != nil {
					return
				}
				p := []byte(ev.Data)
				if ev.Encoding == "base64" {
					if p, err = base64.StdEncoding.DecodeString(ev.Data); err != nil {
						c.fail(err)
						return
					}
				}
				c.add(ev.Topic, p)
			}
		}()
	}}
}

func ndjsonSubscriber() subscriber {
	return subscriber{"ndjson", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic="+url.QueryEscape(filter), "application/x-ndjson")
		go func() {
			defer resp.Body.Close()
			readEnvelopes(resp.Body, c)
		}()
	}}
}

func readEnvelopes(r io.Reader, c *collector) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e envelope.Envelope
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			c.fail(fmt.Errorf("bad line %q: %w", sc.Bytes(), err))
			return
		}
		if e.Type != envelope.TypeMessage {
			continue
		}
		p, err := e.PayloadBytes()
		if err != nil {
			c.fail(err)
			return
		}
		c.add(e.Topic, p)
	}
}

type pollAnswer struct {
	Cursor   string              `json:"cursor"`
	Gap      bool                `json:"gap"`
	Messages []envelope.Envelope `json:"messages"`
}

func poll(ctx context.Context, base, filter, cursor, timeout string) (pollAnswer, error) {
	q := url.Values{"topic": {filter}, "cursor": {cursor}, "timeout": {timeout}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/poll?"+q.Encode(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pollAnswer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return pollAnswer{}, fmt.Errorf("poll: %s %s", resp.Status, b)
	}
	var a pollAnswer
	err = json.NewDecoder(resp.Body).Decode(&a)
	return a, err
}

func longPollSubscriber() subscriber {
	return subscriber{"longpoll", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		first, err := poll(ctx, s.URL, filter, "", "0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			cursor := first.Cursor
			for ctx.Err() == nil {
				a, err := poll(ctx, s.URL, filter, cursor, "5s")
				if err != nil {
					if ctx.Err() == nil {
						c.fail(err)
					}
					return
				}
				if !c.addPolled(a) {
					return
				}
				cursor = a.Cursor
			}
		}()
	}}
}

// addPolled collects the messages of a long-poll answer; false when one
// could not be decoded (c holds the error).
func (c *collector) addPolled(a pollAnswer) bool {
	for _, e := range a.Messages {
		p, err := e.PayloadBytes()
		if err != nil {
			c.fail(err)
			return false
		}
		c.add(e.Topic, p)
	}
	return true
}

func wsJSONSubscriber() subscriber {
	return subscriber{"ws-json", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		conn, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadLimit(-1)
		b, _ := json.Marshal(wsproto.Request{Op: wsproto.OpSubscribe, ID: "s1", Topics: []string{filter}})
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
		go func() {
			defer conn.CloseNow()
			for {
				_, data, err := conn.Read(ctx)
				if err != nil {
					return
				}
				var e envelope.Envelope
				if err := json.Unmarshal(data, &e); err != nil {
					c.fail(err)
					return
				}
				if e.Type != envelope.TypeMessage {
					continue
				}
				p, err := e.PayloadBytes()
				if err != nil {
					c.fail(err)
					return
				}
				c.add(e.Topic, p)
			}
		}()
	}}
}

func wsPlainSubscriber() subscriber {
	return subscriber{"ws-plain", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		conn, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/"+filter, nil)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetReadLimit(-1)
		go func() {
			defer conn.CloseNow()
			for {
				_, data, err := conn.Read(ctx)
				if err != nil {
					return
				}
				c.add("", data) // a plain socket carries the payload only
			}
		}()
	}}
}

func cliSubscriber() subscriber {
	return subscriber{"cli", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		cmd := exec.CommandContext(ctx, cliPath, "sub", "--server", s.URL, "--format", "json", filter)
		startReading(t, cmd, func(r io.Reader) { readEnvelopes(r, c) })
	}}
}
