package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// stalledPublish sends a publish whose body never finishes: 8,000,000
// bytes declared, 3 sent.
func stalledPublish(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "POST /v1/publish/stalled HTTP/1.1\r\nHost: %s\r\nContent-Length: 8000000\r\n\r\nabc", addr)
	return nc, bufio.NewReader(nc)
}

// TestStalledPublishBody: a body that stops arriving is answered 408 once
// http.readtimeout has passed.
func TestStalledPublishBody(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Readtimeout = 300 * time.Millisecond })
	nc, br := stalledPublish(t, s.Addr())
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	checkErrorBody(t, "stalled body", resp)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("stalled body answered %d, want 408", resp.StatusCode)
	}
}

// TestStreamsOutliveReadTimeout: http.readtimeout bounds reading requests,
// not the responses that stream.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Readtimeout = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sse := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=rt", "text/event-stream")
	defer sse.Body.Close()
	nd := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=rt&format=ndjson", "")
	defer nd.Body.Close()
	poll := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(s.URL + "/v1/poll?topic=rt&timeout=5s")
		if err == nil {
			poll <- resp
		}
		close(poll)
	}()
	wsc, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/rt", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer wsc.CloseNow()
	s.WaitSubscribers(t, "rt", 4)
	time.Sleep(600 * time.Millisecond) // three read timeouts
	resp, err := http.Post(s.URL+"/v1/publish/rt", "text/plain", strings.NewReader("late"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %v %v", resp, err)
	}
	resp.Body.Close()
	if ev, err := testkit.NewSSEReader(sse.Body).Next(); err != nil || ev.Data != "late" {
		t.Errorf("SSE after the read timeout: %+v %v", ev, err)
	}
	ndr := bufio.NewReader(nd.Body)
	line, err := ndr.ReadString('\n')
	for err == nil && !strings.Contains(line, "late") {
		line, err = ndr.ReadString('\n')
	}
	if err != nil {
		t.Errorf("NDJSON after the read timeout: %v", err)
	}
	if pr := <-poll; pr == nil || pr.StatusCode != http.StatusOK {
		t.Errorf("long poll after the read timeout: %v", pr)
	} else {
		body, _ := io.ReadAll(pr.Body)
		pr.Body.Close()
		if !strings.Contains(string(body), "late") {
			t.Errorf("long poll after the read timeout: %s", body)
		}
	}
	if _, data, err := wsc.Read(ctx); err != nil || string(data) != "late" {
		t.Errorf("WebSocket after the read timeout: %q %v", data, err)
	}
}

// TestIdleKeepAliveClosed: a keep-alive connection with no request is
// closed after http.idletimeout.
func TestIdleKeepAliveClosed(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Idletimeout = 200 * time.Millisecond })
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle keep-alive connection not closed: %v", err)
	}
}

// TestHTTPConnectionsCounted: keep-alive connections count against
// limits.peraddress and show in streamhub_connections{transport="http"}.
func TestHTTPConnectionsCounted(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Peraddress = 3 })
	var idle []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		idle = append(idle, nc)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// Read /metrics over one of the two sockets themselves: a third
	// connection would still count for a moment after it closed.
	br := bufio.NewReader(idle[0])
	testkit.Eventually(t, 5*time.Second, "2 HTTP connections in /metrics", func() bool {
		fmt.Fprintf(idle[0], "GET /metrics HTTP/1.1\r\nHost: streamhub\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return strings.Contains(string(b), `streamhub_connections{transport="http"} 2`)
	})
	// Two idle sockets and a stream: the address's three.
	sse := testkit.Get(t, t.Context(), s.URL+"/v1/subscribe?topic=c", "")
	defer sse.Body.Close()
	if sse.StatusCode != http.StatusOK {
		t.Fatalf("a stream on the third connection answered %d", sse.StatusCode)
	}
	resp, err := client.Get(s.URL + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	if err == nil && resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a fourth connection from the address answered %d", resp.StatusCode)
	}
	for _, nc := range idle {
		nc.Close()
	}
	testkit.Eventually(t, 5*time.Second, "released connections", func() bool {
		resp, err := client.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// TestShutdownCutsStalledRequest: SIGTERM with a stalled publish open ends
// within the grace period and exits 0.
func TestShutdownCutsStalledRequest(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "streamhub.yaml")
	if err := os.WriteFile(conf, []byte("shutdown: 1s\nhttp:\n  readtimeout: 1m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startBinary(t, "", "--config", conf)
	stalledPublish(t, strings.TrimPrefix(srv.url, "http://"))
	time.Sleep(100 * time.Millisecond) // for the request to reach its handler: nothing shows it
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM with a stalled request open", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}
