package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// The page knows nothing of streamhub: a plain EventSource and the seed
// article's WebSocket snippet (send JSON.stringify(data), JSON.parse the
// frames), reconnecting the WebSocket when it closes.
const browserPage = `<!doctype html><html><body><script>
const params = new URLSearchParams(location.search);
const http = params.get('server'), ws = http.replace('http', 'ws');
window.got = {sse: [], ws: []};
window.opens = {sse: 0, ws: 0};
const es = new EventSource(http + '/v1/subscribe?topic=' + encodeURIComponent('browser/#'));
es.onopen = () => window.opens.sse++;
es.onmessage = (e) => window.got.sse.push(e.data);
function connect() {
  const socket = new WebSocket(ws + '/v1/ws/browser/chat');
  socket.onopen = () => {
    window.opens.ws++;
    socket.send(JSON.stringify({hello: 'from the browser', n: window.opens.ws}));
  };
  // The socket also receives its own hellos back (it publishes to the topic it
  // is on); the test looks at the chat lines only.
  socket.onmessage = (event) => { const data = JSON.parse(event.data); if (data.text) window.got.ws.push(data.text); };
  socket.onclose = () => setTimeout(connect, 200);
}
connect();
</script></body></html>`

func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH: scripts/test.sh installs it")
	return ""
}

// headless is a headless Chromium for the test, ended with it after
// timeout at the latest; extra adds flags for what the test needs.
func headless(t *testing.T, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(opts, extra...)...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	return browser
}

func TestBrowserResumeAcrossRestart(t *testing.T) {
	exe := chromium(t)
	// A durable stream, so that the history survives the restart and the
	// EventSource's Last-Event-ID resumes it.
	durable := durableConfig(t.TempDir(), config.DurableStream{Filter: "browser/#"})
	s := testkit.StartOn(t, testkit.Pebble, durable)
	addr := s.Addr()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, browserPage)
	}))
	defer page.Close()

	// What the page's WebSocket sends must reach other protocols.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	fromBrowser := &collector{}
	ndjsonSubscriber().start(ctx, t, s, "browser/chat", fromBrowser)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if _, err := chromedp.Run(browser, chromedp.Navigate(page.URL+"/?server="+s.URL)); err != nil {
		t.Fatal(err)
	}
	type pageState struct {
		Got struct {
			SSE []string `json:"sse"`
			WS  []string `json:"ws"`
		} `json:"got"`
		Opens struct {
			SSE int `json:"sse"`
			WS  int `json:"ws"`
		} `json:"opens"`
	}
	var state pageState
	got, opens := &state.Got, &state.Opens
	read := func() {
		st, err := chromedp.Run(browser, chromedp.Evaluate[pageState](`({got: window.got, opens: window.opens})`))
		if err != nil {
			t.Fatal(err)
		}
		state = st
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, what, func() bool { read(); return cond() })
	}
	waitFor("EventSource and WebSocket to open", func() bool { return opens.SSE >= 1 && opens.WS >= 1 })
	s.WaitFilters(t, 3)

	httpPublish(t, s.URL, "browser/news", []byte("first"), "")
	httpPublish(t, s.URL, "browser/chat", []byte(`{"text":"hello ws"}`), "")
	// The browser's hellos race with the EventSource's subscription, so the
	// EventSource checks look at the HTTP-published messages only.
	chat := func() []string {
		return slices.DeleteFunc(slices.Clone(got.SSE), func(s string) bool { return strings.HasPrefix(s, `{"hello"`) })
	}
	waitFor("first messages", func() bool { return len(chat()) >= 2 && len(got.WS) >= 1 })

	// Restart the server on the same address and publish before the
	// browser is back: EventSource reconnects by itself, with
	// Last-Event-ID, and gets what it missed; the page's WebSocket
	// reconnects by its onclose handler.
	s.Stop(t)
	s2 := testkit.StartOn(t, testkit.Pebble, func(c *config.Config) { durable(c); c.HTTP.Addr = addr })
	httpPublish(t, s2.URL, "browser/news", []byte("while you were away"), "")
	waitFor("reconnects", func() bool { return opens.SSE >= 2 && opens.WS >= 2 })
	s2.WaitFilters(t, 2)
	httpPublish(t, s2.URL, "browser/news", []byte("after restart\nsecond line"), "")
	httpPublish(t, s2.URL, "browser/chat", []byte(`{"text":"hello again"}`), "")
	waitFor("messages after restart", func() bool { return len(chat()) >= 5 && len(got.WS) >= 2 })
	time.Sleep(300 * time.Millisecond) // would a duplicate arrive?
	read()

	want := []string{"first", `{"text":"hello ws"}`, "while you were away", "after restart\nsecond line", `{"text":"hello again"}`}
	if !slices.Equal(chat(), want) {
		t.Errorf("EventSource got %q, want %q once each, in order", got.SSE, want)
	}
	if !slices.Equal(got.WS, []string{"hello ws", "hello again"}) {
		t.Errorf("WebSocket got %q", got.WS)
	}
	msgs, _ := fromBrowser.snapshot()
	if len(msgs) == 0 || string(msgs[0].payload) != `{"hello":"from the browser","n":1}` {
		t.Errorf("the browser's WebSocket send did not reach NDJSON: %v", msgs)
	}
}
