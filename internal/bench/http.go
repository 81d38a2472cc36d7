package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// openSSE subscribes with an EventSource-like reader; every event's data
// (base64 when streamhub marks it so) goes to onMsg.
func openSSE(url string, onMsg func([]byte)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := sseClient.Do(req)
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
			}
		}
	}()
	return cancel, nil
}

var sseClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1 << 14, MaxConnsPerHost: 0}}

// httpPublisher POSTs each message; payloads travel base64-free as text.
type httpPublisher struct {
	url    string
	client *http.Client
}

func newHTTPPublisher(url string) *httpPublisher {
	return &httpPublisher{url: url, client: &http.Client{Timeout: 30 * time.Second}}
}

func (h *httpPublisher) send(topic string, p []byte, _ bool) error {
	// SSE carries text: send the timestamp as decimal digits, padded.
	body := fmt.Sprintf("%019d", int64(0))
	if len(p) >= 8 {
		body = strings.Repeat("x", max(0, len(p)-19)) // payload size kept roughly
		body = fmt.Sprintf("%019d", time.Now().UnixNano()) + body
	}
	resp, err := h.client.Post(strings.ReplaceAll(h.url, "{topic}", topic), "text/plain", strings.NewReader(body))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("publish: %s", resp.Status)
	}
	return nil
}

func (h *httpPublisher) close() {}

func (h *httpPublisher) flush() {}
