package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// openSSE subscribes with an EventSource-like reader; every event's data
// (base64 when streamhub marks it so) goes to onMsg. A line that is a JSON
// object is an NDJSON envelope (?format=ndjson): its payload goes to onMsg.
func openSSE(url string, tc *tls.Config, onMsg func([]byte)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	client := sseClient
	if tc != nil {
		client = &http.Client{Transport: tlsTransport(tc, 1)}
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("subscribe %s: %s", url, resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		var data []byte
		base64ed := false
		for sc.Scan() {
			line := sc.Bytes()
			switch {
			case len(line) == 0:
				if data != nil {
					if base64ed {
						data, _ = base64.StdEncoding.DecodeString(string(data))
					}
					onMsg(data)
				}
				data, base64ed = nil, false
			case bytes.HasPrefix(line, []byte("data:")):
				d := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))
				if data != nil {
					data = append(data, '\n')
				}
				data = append(data, d...)
			case bytes.Equal(line, []byte("encoding: base64")):
				base64ed = true
			case line[0] == '{':
				if p, ok := envelopePayload(line); ok {
					onMsg(p)
				}
			}
		}
	}()
	return cancel, nil
}

// openWS subscribes with a plain WebSocket: every frame is one payload.
func openWS(url string, tc *tls.Config, onMsg func([]byte)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	c, _, err := websocket.Dial(ctx, url, wsDialOptions(tc))
	if err != nil {
		cancel()
		return nil, err
	}
	c.SetReadLimit(-1)
	go func() {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			onMsg(data)
		}
	}()
	return func() { cancel(); c.CloseNow() }, nil
}

// envelopePayload is the payload of an NDJSON or WebSocket JSON message
// envelope; ok is false for the protocol's other lines (subscribed, gap...).
func envelopePayload(line []byte) ([]byte, bool) {
	var env struct {
		Type     string `json:"type"`
		Payload  string `json:"payload"`
		Encoding string `json:"encoding"`
	}
	if json.Unmarshal(line, &env) != nil || env.Type != "message" {
		return nil, false
	}
	if env.Encoding == "base64" {
		p, err := base64.StdEncoding.DecodeString(env.Payload)
		return p, err == nil
	}
	return []byte(env.Payload), true
}

// openWSJSON subscribes to filter over streamhub's WebSocket JSON protocol
// (url: ws://HOST:PORT/v1/ws) and returns once the subscription is
// confirmed; every message's payload goes to onMsg.
func openWSJSON(url, filter string, tc *tls.Config, onMsg func([]byte)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	defer dcancel()
	c, _, err := websocket.Dial(dctx, url, wsDialOptions(tc))
	if err != nil {
		cancel()
		return nil, err
	}
	c.SetReadLimit(-1)
	fail := func(err error) (func(), error) {
		cancel()
		c.CloseNow()
		return nil, fmt.Errorf("subscribe %s on %s: %w", filter, url, err)
	}
	sub, _ := json.Marshal(map[string]any{"op": "sub", "id": "1", "topic": filter})
	if err := c.Write(dctx, websocket.MessageText, sub); err != nil {
		return fail(err)
	}
	for {
		_, data, err := c.Read(dctx)
		if err != nil {
			return fail(err)
		}
		if p, ok := envelopePayload(data); ok { // a retained message may come first
			onMsg(p)
			continue
		}
		if bytes.Contains(data, []byte(`"type":"subscribed"`)) {
			break
		}
		return fail(fmt.Errorf("answered %s", data))
	}
	go func() {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			if p, ok := envelopePayload(data); ok {
				onMsg(p)
			}
		}
	}()
	return func() { cancel(); c.CloseNow() }, nil
}

var sseClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1 << 14, MaxConnsPerHost: 0}}

// tlsTransport is a transport with the TLS configuration tc.
func tlsTransport(tc *tls.Config, idlePerHost int) *http.Transport {
	return &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: idlePerHost}
}

// wsDialOptions dials with the TLS configuration tc, if any.
func wsDialOptions(tc *tls.Config) *websocket.DialOptions {
	if tc == nil {
		return nil
	}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tlsTransport(tc, 1)}}
}

// httpPublisher POSTs each message from a few concurrent connections
// (HTTPPublishers, 8 by default), so that publishing keeps up with servers
// that fan out faster than one request at a time allows; with one, each
// message is published after the last was answered, as a simple client does.
type httpPublisher struct {
	url    string
	client *http.Client
	jobs   chan job
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
}

type job struct {
	topic string
	body  string
}

const defaultHTTPPublishers = 8

func newHTTPPublisher(url string, publishers int, tc *tls.Config) *httpPublisher {
	if publishers <= 0 {
		publishers = defaultHTTPPublishers
	}
	h := &httpPublisher{url: url, jobs: make(chan job, 64),
		client: &http.Client{Timeout: 30 * time.Second, Transport: tlsTransport(tc, publishers)}}
	for range publishers {
		h.wg.Add(1)
		go h.work()
	}
	return h
}

func (h *httpPublisher) work() {
	defer h.wg.Done()
	for j := range h.jobs {
		resp, err := h.client.Post(strings.ReplaceAll(h.url, "{topic}", j.topic), "text/plain", strings.NewReader(j.body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("publish: %s", resp.Status)
			}
		}
		if err != nil {
			h.mu.Lock()
			h.err = err
			h.mu.Unlock()
		}
	}
}

// send queues a publish; SSE carries text, so the payload is the send
// time in decimal, padded to the payload size.
func (h *httpPublisher) send(topic string, p []byte, _ bool) error {
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	if err != nil {
		return err
	}
	body := fmt.Sprintf("%0*d", decimalStamp, time.Now().UnixNano()) + strings.Repeat("x", max(0, len(p)-decimalStamp))
	h.jobs <- job{topic: topic, body: body}
	return nil
}

func (h *httpPublisher) close() {
	close(h.jobs)
	h.wg.Wait()
}

func (h *httpPublisher) flush() {}

// wsPublisher publishes over plain WebSocket (/v1/ws/{topic}): one socket
// per topic, each message one binary frame.
type wsPublisher struct {
	url   string // with {topic}
	tls   *tls.Config
	conns map[string]*websocket.Conn
}

func (p *wsPublisher) send(topic string, payload []byte, _ bool) error {
	c := p.conns[topic]
	if c == nil {
		var err error
		c, _, err = websocket.Dial(context.Background(), strings.ReplaceAll(p.url, "{topic}", topic), wsDialOptions(p.tls))
		if err != nil {
			return fmt.Errorf("publish over websocket: %w", err)
		}
		c.SetReadLimit(-1)
		// The plain socket receives its own topic too: read and discard,
		// so that the server's writes to it never back up.
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		p.conns[topic] = c
	}
	return c.Write(context.Background(), websocket.MessageBinary, payload)
}

func (p *wsPublisher) flush() {}

func (p *wsPublisher) close() {
	for _, c := range p.conns {
		c.Close(websocket.StatusNormalClosure, "")
	}
}
