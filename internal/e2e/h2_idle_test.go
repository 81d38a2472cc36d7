package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// Idle HTTP/2 streams (issue 24, item 11): a write deadline is set before
// each write, and on HTTP/2 net/http resets a stream whose deadline passes
// even when nothing is being written, so an SSE or NDJSON stream died one
// write timeout after its first heartbeat (25 s with the defaults). These
// tests shorten the write timeout below the heartbeat, hold a stream idle
// through several heartbeats (many write timeouts) and then expect a
// message on it.

// shortDeadlines makes every heartbeat come after more than one write
// timeout, as the defaults (15 s heartbeat, 10 s timeout) do.
func shortDeadlines(c *config.Config) {
	for _, d := range []*config.Delivery{&c.SSE, &c.NDJSON} {
		d.Heartbeat, d.Timeout = 250*time.Millisecond, 50*time.Millisecond
	}
}

// idleHeartbeats is how many heartbeats a stream must survive: each one
// comes five write timeouts after the one before.
const idleHeartbeats = 6

// awaitIdleThenMessage reads a stream line by line: idleHeartbeats
// heartbeats (lines equal to beat) with nothing else, then a message
// published by publish, whose payload the stream must carry.
func awaitIdleThenMessage(t *testing.T, body io.Reader, beat string, publish func()) {
	t.Helper()
	br := bufio.NewReader(body)
	beats := 0
	for beats < idleHeartbeats {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d heartbeats: %v", beats, err)
		}
		if strings.TrimRight(l, "\n") == beat {
			beats++
		}
	}
	publish()
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the message: %v", err)
		}
		if strings.Contains(l, "after idle") {
			return
		}
	}
}

// TestIdleHTTP2StreamsSurviveCurl: curl --http2-prior-knowledge (h2c)
// keeps an idle SSE and NDJSON stream open, as over HTTP/1.1.
func TestIdleHTTP2StreamsSurviveCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	s := testkit.Start(t, shortDeadlines)
	for _, tc := range []struct{ name, accept, beat string }{
		{"sse", "text/event-stream", ": ping"},
		{"ndjson", "application/x-ndjson", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "h2idle/" + tc.name
			cmd := exec.CommandContext(t.Context(), "curl", "-sN", "--http2-prior-knowledge",
				"-H", "Accept: "+tc.accept, s.URL+"/v1/subscribe?topic="+topic)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			awaitIdleThenMessage(t, out, tc.beat, func() {
				httpPublish(t, s.URL, topic, []byte("after idle"), "")
			})
		})
	}
}

// TestIdleHTTP2StreamsSurviveTLS: the same over HTTPS with h2, what every
// browser on an HTTPS site uses, with Go's HTTP/2 client.
func TestIdleHTTP2StreamsSurviveTLS(t *testing.T) {
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) {
		c.HTTP.Cert, c.HTTP.Key = certFile, keyFile
		shortDeadlines(c)
	})
	base := "https://" + s.Addr()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	for _, tc := range []struct{ name, accept, beat string }{
		{"sse", "text/event-stream", ": ping"},
		{"ndjson", "application/x-ndjson", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "h2idle/tls/" + tc.name
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/v1/subscribe?topic="+topic, nil)
			req.Header.Set("Accept", tc.accept)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.ProtoMajor != 2 {
				t.Fatalf("got %s, want HTTP/2", resp.Proto)
			}
			awaitIdleThenMessage(t, resp.Body, tc.beat, func() { httpsPublish(t, base, topic, "after idle") })
		})
	}
}

// TestIdleHTTP2EventSourceInChromium: Chromium's EventSource on an HTTPS
// page (HTTP/2) stays connected through idle heartbeats: no error, no
// reconnect, and the next message arrives on the first connection.
func TestIdleHTTP2EventSourceInChromium(t *testing.T) {
	chromium(t) // skips without one, before any server starts
	certFile, keyFile, _ := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) {
		c.HTTP.Cert, c.HTTP.Key = certFile, keyFile
		shortDeadlines(c)
	})
	base := "https://" + s.Addr()
	browser := headless(t, 2*time.Minute, chromedp.Flag("ignore-certificate-errors", true), chromedp.Flag("disable-quic", true))
	if _, err := chromedp.Run(browser, chromedp.Navigate(base+"/healthz")); err != nil {
		t.Fatal(err)
	}
	proto, err := chromedp.Run(browser, chromedp.Evaluate[string](`performance.getEntriesByType('navigation')[0].nextHopProtocol`))
	if err != nil || proto != "h2" {
		t.Fatalf("the page came over %q (%v), want h2", proto, err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](`
window.es = {opens: 0, errors: 0, got: []};
const source = new EventSource('/v1/subscribe?topic=h2idle/browser');
source.onopen = () => window.es.opens++;
source.onerror = () => window.es.errors++;
source.onmessage = (e) => window.es.got.push(e.data);
true`)); err != nil {
		t.Fatal(err)
	}
	type esState struct {
		Opens  int      `json:"opens"`
		Errors int      `json:"errors"`
		Got    []string `json:"got"`
	}
	read := func() esState {
		st, err := chromedp.Run(browser, chromedp.Evaluate[esState](`window.es`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	testkit.Eventually(t, 30*time.Second, "EventSource to open", func() bool { return read().Opens == 1 })
	s.WaitFilters(t, 1)
	// Idle for many write timeouts (each heartbeat comes five later): the
	// stream used to be reset after the first heartbeat.
	time.Sleep(idleHeartbeats * 250 * time.Millisecond)
	httpsPublish(t, base, "h2idle/browser", "after idle")
	testkit.Eventually(t, 30*time.Second, "the message after idle", func() bool {
		return slices.Contains(read().Got, "after idle")
	})
	if st := read(); st.Opens != 1 || st.Errors != 0 {
		t.Errorf("EventSource over h2 opened %d times with %d errors while idle, want one open and none", st.Opens, st.Errors)
	}
}

// httpsPublish publishes payload to topic on a server with a self-signed
// certificate.
func httpsPublish(t *testing.T, base, topic, payload string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(base+"/v1/publish/"+topic, "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s", resp.Status)
	}
}
