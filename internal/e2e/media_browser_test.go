package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/testkit"
)

// Headless Chromium plays the seed's <video src="index.m3u8"> page with no
// player library: the video's clock advances and it has the stream's width.
func TestMediaBrowserPlaysHLSPage(t *testing.T) {
	chromium(t)
	requireFFmpeg(t)
	t.Parallel()
	srv := rtmpPublished(t)
	browser := mediaBrowser(t)
	if _, err := chromedp.Run(browser, chromedp.Navigate(srv.URL+"/hls/live/cam1/")); err != nil {
		t.Fatal(err)
	}

	type videoState struct {
		CurrentTime float64 `json:"currentTime"`
		VideoWidth  int     `json:"videoWidth"`
		Error       int     `json:"error"`
		Message     string  `json:"message"`
	}
	read := func() videoState {
		st, err := chromedp.Run(browser, chromedp.Evaluate[videoState](
			`(() => { const v = document.querySelector('video'); return {currentTime: v.currentTime, videoWidth: v.videoWidth, error: v.error ? v.error.code : 0, message: v.error ? v.error.message : ''}; })()`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	var first videoState
	// A MediaError on the way is allowed: the page retries (a muxer's first
	// playlist waits for its first segment, which Chromium does not).
	var lastError string
	testkit.Eventually(t, 40*time.Second, "the video to start playing", func() bool {
		first = read()
		if first.Error != 0 && first.Message != lastError {
			lastError = first.Message
			t.Logf("MediaError %d: %s (the page retries)", first.Error, first.Message)
		}
		return first.CurrentTime > 0 && first.VideoWidth > 0
	})
	if first.VideoWidth != 1280 {
		t.Fatalf("videoWidth %d, want 1280", first.VideoWidth)
	}
	testkit.Eventually(t, 20*time.Second, fmt.Sprintf("currentTime to advance past %.2fs", first.CurrentTime), func() bool {
		return read().CurrentTime >= first.CurrentTime+1
	})

	shot, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "hls-page.png")
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", file, len(shot))
	if dir := os.Getenv("TEST_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, "hls-page.png"), shot, 0o600) //nolint:errcheck // a convenience copy
	}
}
