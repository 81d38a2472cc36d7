package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestGracefulShutdown checks that each protocol gets its going-away
// signal: an SSE close event, an NDJSON close line, WebSocket 1001, and a
// pending long poll answered.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sse := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=a", "text/event-stream")
	defer sse.Body.Close()
	nd := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=a", "application/x-ndjson")
	defer nd.Body.Close()
	ws, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	pollDone := make(chan error, 1)
	go func() {
		_, err := poll(ctx, s.URL, "a", "", "20s")
		pollDone <- err
	}()
	s.WaitFilters(t, 4)

	stopped := make(chan struct{})
	go func() { s.Stop(t); close(stopped) }()

	sseBody, _ := io.ReadAll(sse.Body)
	if !bytes.Contains(sseBody, []byte("event: close\ndata: {\"reason\":\"shutdown\"}")) {
		t.Errorf("SSE stream ended without a close event: %q", sseBody)
	}
	ndBody, _ := io.ReadAll(nd.Body)
	if !bytes.Contains(ndBody, []byte(`{"type":"close","reason":"shutdown"}`)) {
		t.Errorf("NDJSON stream ended without a close line: %q", ndBody)
	}
	_, _, err = ws.Read(ctx)
	if status := websocket.CloseStatus(err); status != websocket.StatusGoingAway {
		t.Errorf("WebSocket closed with %v (%v), want 1001", status, err)
	}
	if err := <-pollDone; err != nil {
		t.Errorf("long poll: %v", err)
	}
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("shutdown did not finish")
	}
}

// TestServeBinarySIGTERM runs the real binary as a user would and stops it
// with SIGTERM.
func TestServeBinarySIGTERM(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(cliPath, serveArgs("")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var url string
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "url=http://"); i >= 0 {
			url = strings.Fields(line[i+len("url="):])[0]
			break
		}
	}
	if url == "" {
		t.Fatal("serve printed no listening address")
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	go io.Copy(io.Discard, stderr)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
}

// TestHTTP2Cleartext opens many SSE streams over one h2c connection, as a
// browser's EventSources share one HTTP/2 connection.
func TestHTTP2Cleartext(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const streams = 12 // twice HTTP/1.1's usual six per site
	readers := make([]*testkit.SSEReader, streams)
	for i := range readers {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=h2/x", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("stream %d used %s", i, resp.Proto)
		}
		readers[i] = testkit.NewSSEReader(resp.Body)
	}
	s.WaitFilters(t, streams)
	httpPublish(t, s.URL, "h2/x", []byte("over h2c"), "")
	for i, r := range readers {
		ev, err := r.Next()
		if err != nil || ev.Data != "over h2c" {
			t.Fatalf("stream %d: %+v %v", i, ev, err)
		}
	}
}

// TestHTTP2OverTLS serves h2 once a certificate is configured.
func TestHTTP2OverTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Cert, c.HTTP.Key = certFile, keyFile })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("got %s over TLS, want HTTP/2", resp.Proto)
	}
}
