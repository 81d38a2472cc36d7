package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/testkit"
)

// mediaBrowser is headless Chromium that plays media without a gesture.
func mediaBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	return headless(t, 120*time.Second, append([]chromedp.ExecAllocatorOption{chromedp.WindowSize(1280, 720),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required")}, extra...)...)
}

// pageServer serves html at / and the files of dir (if any) below it, as
// a site of its own would.
func pageServer(t *testing.T, html, dir string) string {
	t.Helper()
	mux := http.NewServeMux()
	if dir != "" {
		mux.Handle("/files/", http.StripPrefix("/files/", http.FileServer(http.Dir(dir))))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, html)
	})
	page := httptest.NewServer(mux)
	t.Cleanup(page.Close)
	return page.URL
}

type videoState struct {
	CurrentTime float64 `json:"currentTime"`
	Error       int     `json:"error"`
	Message     string  `json:"message"`
}

// readVideo is the state of the page's <video>, failing at its first
// MediaError: the page does not retry.
func readVideo(t *testing.T, browser context.Context) videoState {
	t.Helper()
	st, err := chromedp.Run(browser, chromedp.Evaluate[videoState](
		`(() => { const v = document.querySelector('video'); return {currentTime: v.currentTime, error: v.error ? v.error.code : 0, message: v.error ? v.error.message : ''}; })()`))
	if err != nil {
		t.Fatal(err)
	}
	if st.Error != 0 {
		t.Fatalf("MediaError %d: %s", st.Error, st.Message)
	}
	return st
}

// videoPlays waits until the page's <video> plays (its clock advances by a
// second), failing at the first MediaError.
func videoPlays(t *testing.T, browser context.Context) {
	t.Helper()
	var first videoState
	testkit.Eventually(t, 60*time.Second, "the video to start playing", func() bool {
		first = readVideo(t, browser)
		return first.CurrentTime > 0
	})
	videoReaches(t, browser, first.CurrentTime+1)
}

// videoReaches waits until the page's <video> has played to at seconds,
// failing at the first MediaError.
func videoReaches(t *testing.T, browser context.Context, at float64) {
	t.Helper()
	testkit.Eventually(t, 60*time.Second, fmt.Sprintf("currentTime to advance past %.2fs", at), func() bool {
		return readVideo(t, browser).CurrentTime >= at
	})
}

// TestHLSFirstRequestPlays: seed 000's `<video src=".../index.m3u8">`,
// alone on a page of another site, plays when it is the first request for
// the path's HLS (the muxer starts with it), in Chromium's own player and
// in hls.js; no page of ours retries (issue 24 item 16).
func TestHLSFirstRequestPlays(t *testing.T) {
	chromium(t)
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)

	t.Run("native", func(t *testing.T) {
		publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/native")
		waitOnline(t, srv, "live/native")
		page := pageServer(t, `<video src="`+srv.URL+`/hls/live/native/index.m3u8" autoplay muted></video>`, "")
		browser := mediaBrowser(t)
		if _, err := chromedp.Run(browser, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		videoPlays(t, browser)
	})

	t.Run("hls.js", func(t *testing.T) {
		dir := hlsJS(t)
		publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/hlsjs")
		waitOnline(t, srv, "live/hlsjs")
		page := pageServer(t, `<script src="/files/hls.min.js"></script><video autoplay muted></video>
<script>const hls = new Hls(); hls.loadSource("`+srv.URL+`/hls/live/hlsjs/index.m3u8"); hls.attachMedia(document.querySelector('video'));
hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) console.error('hls.js', d.type, d.details); });</script>`, dir)
		browser := mediaBrowser(t)
		if _, err := chromedp.Run(browser, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		videoPlays(t, browser)
	})
}

// hlsJS is the directory of hls.js's dist/hls.min.js (Apache-2.0), fetched
// with npm once into the user's cache directory; the test is skipped when
// neither the cache nor npm and the registry are there.
func hlsJS(t *testing.T) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skipf("hls.js: no cache directory: %v", err)
	}
	root := filepath.Join(cache, "streamhub-test", "hlsjs")
	dist := filepath.Join(root, "node_modules", "hls.js", "dist")
	if _, err := os.Stat(filepath.Join(dist, "hls.min.js")); err == nil {
		return dist
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("hls.js: not cached and no npm on PATH to fetch it")
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		t.Skipf("hls.js: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", root, "hls.js@1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("hls.js: npm install failed (no network?): %v\n%s", err, out[max(0, len(out)-500):])
	}
	return dist
}

// TestHLSPathsAnswerTruly: /hls/PATH without its slash redirects to the
// page; a playlist outside /hls/ is not called "not served yet" (HLS is).
func TestHLSPathsAnswerTruly(t *testing.T) {
	t.Parallel()
	srv := testkit.Start(t, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(srv.URL + "/hls/live/cam1?token=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusMovedPermanently || loc != "/hls/live/cam1/?token=abc" {
		t.Errorf("/hls/live/cam1: %s, Location %q; want 301 to /hls/live/cam1/?token=abc", resp.Status, loc)
	}
	resp, err = http.Get(srv.URL + "/stream.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "not served yet") || !strings.Contains(body, "/hls/") {
		t.Errorf("/stream.m3u8: %s %s; want a 404 pointing at /hls/PATH/index.m3u8", resp.Status, body)
	}
}
