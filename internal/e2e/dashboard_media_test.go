package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/testkit"
)

// TestDashboardMedia: with ffmpeg publishing over RTMP, the dashboard's
// Media tab lists the path online with its codecs, and its play button
// plays it over HLS in the page; the Clients tab lists the publisher and
// that reader.
func TestDashboardMedia(t *testing.T) {
	chromium(t)
	requireFFmpeg(t)
	t.Parallel()
	srv := rtmpPublished(t)
	browser, problems := dashboardBrowser(t, srv.URL+"/", 1280, 900)
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tabs button[data-tab=media]`))); err != nil {
		t.Fatal(err)
	}
	row := `document.querySelector('#media-table tr[data-path="live/cam1"]')`
	testkit.Eventually(t, 20*time.Second, "live/cam1 online in the Media tab", func() bool {
		return evalString(t, browser, `(`+row+`?.textContent || '')`) != "" &&
			evalString(t, browser, row+`.children[1].textContent`) == "online"
	})
	if codecs := evalString(t, browser, row+`.children[3].textContent`); codecs != "h264, aac" {
		t.Errorf("codecs shown: %q, want h264, aac", codecs)
	}
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#media-table tr[data-path="live/cam1"] button.play`))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 40*time.Second, "the player to play", func() bool {
		return evalString(t, browser, `String(document.querySelector('#player').currentTime > 0 && document.querySelector('#player').videoWidth)`) == "1280"
	})
	screenshot(t, browser, "dashboard-media.png")
	// The Clients tab lists the RTMP publisher and the page's HLS reader.
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tabs button[data-tab=clients]`))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the media clients in the Clients tab", func() bool {
		text := evalString(t, browser, `document.querySelector('#client-table tbody').textContent`)
		return strings.Contains(text, "rtmp") && strings.Contains(text, "publisher live/cam1") &&
			strings.Contains(text, "hls") && strings.Contains(text, "reader live/cam1")
	})
	if p := problems(); len(p) > 0 {
		t.Errorf("console errors: %q", p)
	}
}
