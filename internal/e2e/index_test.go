package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"

	"streamhub/internal/testkit"
)

// TestIndexPage: GET / is an HTML page listing the endpoints with examples
// built from the address asked for; HLS requests say HLS is not served.
func TestIndexPage(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	resp, err := http.Get(s.URL + "/endpoints")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"curl -N " + s.URL + "/v1/subscribe?topic=",
		s.URL + "/v1/publish/",
		s.WSURL + "/v1/ws/",
		s.WSURL + "/mqtt",
		"mqtt://" + s.MQTT().Addr("mqtt").String(),
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the index page does not show %q", want)
		}
	}
	if strings.Contains(page, "src=\"http") || strings.Contains(page, "href=\"http") && strings.Contains(page, "<link") {
		t.Error("the index page loads external assets")
	}
	resp, err = http.Get(s.URL + "/live/cam1/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || e.Error.Code != "hls_not_served" || !strings.Contains(e.Error.Message, "HLS") {
		t.Errorf("HLS request: %d %+v", resp.StatusCode, e)
	}
}

// TestUnknownWebSocketPath: a WebSocket to a path that serves none (the
// seeds' ws://HOST:8080/stream) is accepted and closed with 1008 and a
// reason naming /v1/ws/{topic}, which a browser's close event shows.
func TestUnknownWebSocketPath(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	nc, br := rawWebSocket(t, s.Addr(), "/stream")
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("first frame: %+v %v", f.Header, err)
	}
	code, reason := ws.ParseCloseFrameData(f.Payload)
	if code != ws.StatusPolicyViolation || !strings.Contains(reason, "/v1/ws/") {
		t.Errorf("closed with %d %q, want 1008 naming /v1/ws/", code, reason)
	}
}

// TestBrowserUnknownWebSocketPath: what Chromium's page sees.
func TestBrowserUnknownWebSocketPath(t *testing.T) {
	exe := chromium(t)
	s := testkit.Start(t, nil)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><script>
window.wsClosed = null;
const socket = new WebSocket(%q);
socket.onclose = (e) => { window.wsClosed = {code: e.code, reason: e.reason}; };
</script>`, s.WSURL+"/stream")
	}))
	defer page.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if _, err := chromedp.Run(browser, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	type closeEvent struct {
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	var got *closeEvent
	testkit.Eventually(t, 30*time.Second, "the close event", func() bool {
		ev, err := chromedp.Run(browser, chromedp.Evaluate[*closeEvent](`window.wsClosed`))
		if err != nil {
			t.Fatal(err)
		}
		got = ev
		return got != nil
	})
	if got.Code != 1008 || !strings.Contains(got.Reason, "/v1/ws/") {
		t.Errorf("the browser saw close %d %q, want 1008 naming /v1/ws/", got.Code, got.Reason)
	}
}
