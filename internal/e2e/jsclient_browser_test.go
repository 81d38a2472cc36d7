package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// jsClientPage imports streamhub.js from the server and keeps three hubs:
// one straight to the server, one through a proxy that refuses WebSocket
// upgrades (so it must fall back to SSE), one through a proxy that also
// buffers event streams (so it must fall back to long polling). All
// subscribe to js/#.
const jsClientPage = `<!doctype html><html><body><script type="module">
const params = new URLSearchParams(location.search);
const { StreamHub } = await import(params.get('server') + '/v1/streamhub.js');
window.pages = {};
for (const name of ['direct', 'proxied', 'buffered']) {
  const hub = new StreamHub(params.get(name), {backoff: {initial: 100, max: 1000}, upgradeAfter: 3000, connectTimeout: 1500});
  const p = window.pages[name] = {hub, got: [], gaps: [], errors: [], connects: 0};
  hub.on('state', (d) => { if (d.state === 'connected') p.connects++; });
  hub.on('gap', (d) => p.gaps.push(d.head));
  hub.on('error', (d) => p.errors.push(String(d.error)));
  p.sub = hub.subscribe('js/#', (m) => p.got.push(m.payload));
}
window.view = () => Object.fromEntries(Object.entries(window.pages).map(([k, p]) =>
  [k, {got: p.got, gaps: p.gaps, state: p.sub.state, transport: p.sub.transport, duplicates: p.sub.duplicates, connects: p.connects}]));
window.ready = true;
</script></body></html>`

type jsHubView struct {
	Got        []string `json:"got"`
	Gaps       []string `json:"gaps"`
	State      string   `json:"state"`
	Transport  string   `json:"transport"`
	Duplicates int      `json:"duplicates"`
	Connects   int      `json:"connects"`
}

// refuseUpgrades is a reverse proxy in front of target that refuses every
// WebSocket upgrade, as some corporate proxies do, and streams the rest
// as it comes, or, with buffer, holds event streams back until they end.
func refuseUpgrades(target string, buffer bool) *httptest.Server {
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.FlushInterval = -1
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) }
	if buffer {
		proxy.ModifyResponse = func(resp *http.Response) error {
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return err
		}
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			http.Error(w, "no WebSocket through this proxy", http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
}

// TestStreamHubJSInChromium: the page imports /v1/streamhub.js; a round
// trip over WebSocket; the hub behind a proxy refusing upgrades falls back
// to SSE and publishes by HTTP POST, the one behind a proxy that also
// buffers event streams to long polling; then, while the server publishes on a
// durable topic, it is restarted mid-stream, and every hub gets every
// message once, in order, with no gap.
func TestStreamHubJSInChromium(t *testing.T) {
	chromium(t) // skips without one, before any server starts
	durable := durableConfig(t.TempDir(), config.DurableStream{Filter: "js/#"})
	s := testkit.StartOn(t, testkit.Pebble, durable)
	addr := s.Addr()
	proxy := refuseUpgrades(s.URL, false)
	defer proxy.Close()
	buffering := refuseUpgrades(s.URL, true)
	defer buffering.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, jsClientPage)
	}))
	defer page.Close()

	browser := headless(t, 3*time.Minute, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-sync", true))
	q := url.Values{"server": {s.URL}, "direct": {s.URL}, "proxied": {proxy.URL}, "buffered": {buffering.URL}}
	if _, err := chromedp.Run(browser, chromedp.Navigate(page.URL+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	var hubs map[string]jsHubView
	read := func() {
		v, err := chromedp.Run(browser, chromedp.Evaluate[map[string]jsHubView](`window.ready ? window.view() : {}`))
		if err != nil {
			t.Fatal(err)
		}
		hubs = v
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testkit.Eventually(t, 60*time.Second, what, func() bool { read(); return cond() })
	}
	connected := func(name, transport string) bool {
		h := hubs[name]
		return h.State == "connected" && h.Transport == transport
	}
	waitFor("the direct hub on websocket, the proxied one on sse, the buffered one on poll", func() bool {
		return connected("direct", "websocket") && connected("proxied", "sse") && connected("buffered", "poll")
	})

	// Publish from the page: over the WebSocket, and by HTTP POST through the proxy.
	publish := func(hub, payload string) {
		t.Helper()
		cursor, err := chromedp.Run(browser, chromedp.Evaluate[string](
			`window.pages.`+hub+`.hub.publish('js/page', `+strconv.Quote(payload)+`).then((r) => r.cursor)`, chromedp.EvalAwaitPromise))
		if err != nil || cursor == "" {
			t.Fatalf("publish from the %s hub: %q, %v", hub, cursor, err)
		}
	}
	publish("direct", "from ws")
	publish("proxied", "from http")
	want := []string{"from ws", "from http"}
	waitFor("the page's own messages", func() bool {
		return len(hubs["direct"].Got) >= 2 && len(hubs["proxied"].Got) >= 2 && len(hubs["buffered"].Got) >= 2
	})

	// A stream on a durable topic, with a restart in the middle.
	const n = 60
	for i := 1; i <= n; i++ {
		if i == n/2 {
			s.Stop(t)
			s = testkit.StartOn(t, testkit.Pebble, func(c *config.Config) { durable(c); c.HTTP.Addr = addr })
		}
		httpPublish(t, s.URL, "js/stream", []byte(strconv.Itoa(i)), "")
		want = append(want, strconv.Itoa(i))
		if i%10 == 0 {
			time.Sleep(50 * time.Millisecond) // let the stream run while the hubs are live
		}
	}
	waitFor("every message on every hub", func() bool {
		return len(hubs["direct"].Got) >= len(want) && len(hubs["proxied"].Got) >= len(want) && len(hubs["buffered"].Got) >= len(want)
	})
	time.Sleep(300 * time.Millisecond) // would a duplicate arrive?
	read()
	for name, h := range hubs {
		if !slices.Equal(h.Got, want) {
			t.Errorf("%s hub (on %s) got %q, want %q once each, in order", name, h.Transport, h.Got, want)
		}
		if h.Connects < 2 {
			t.Errorf("%s hub connected %d times: the restart did not reach it", name, h.Connects)
		}
		if len(h.Gaps) > 0 {
			t.Errorf("%s hub saw gaps %q across a restart of a durable topic", name, h.Gaps)
		}
		t.Logf("%s hub: %d messages on %s, %d connections, %d duplicates dropped", name, len(h.Got), h.Transport, h.Connects, h.Duplicates)
	}
}
