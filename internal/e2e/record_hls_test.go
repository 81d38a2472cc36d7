package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// recordingHLS is the URL of the HLS playlist of path's recording from
// start, for d (zero: an event playlist to the newest segment).
func recordingHLS(base, path string, start time.Time, d time.Duration) string {
	q := url.Values{"start": {start.Format(time.RFC3339Nano)}}
	if d > 0 {
		q.Set("duration", d.String())
	}
	return base + "/hls/" + path + "/index.m3u8?" + q.Encode()
}

// fetchPlaylist GETs a playlist, failing unless it answers 200.
func fetchPlaylist(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "#EXTM3U") {
		t.Fatalf("%s: %s %s", u, resp.Status, body)
	}
	return string(body)
}

// playSpanHLS checks the VOD playlist of the span: one init section
// before the first segment, each segment's wall time, the end; ffprobe
// reads it as the clip, lasting the span ± a segment.
func playSpanHLS(t *testing.T, base, path string, sp span) string {
	t.Helper()
	vod := recordingHLS(base, path, sp.Start, time.Minute)
	pl := fetchPlaylist(t, vod)
	segs := strings.Count(pl, "#EXTINF:")
	if !strings.Contains(pl, "#EXT-X-PLAYLIST-TYPE:VOD\n") || !strings.HasSuffix(pl, "#EXT-X-ENDLIST\n") ||
		!strings.Contains(pl, "#EXT-X-MAP:URI=") || segs == 0 || strings.Count(pl, "#EXT-X-PROGRAM-DATE-TIME:") != segs {
		t.Fatalf("VOD playlist:\n%s", pl)
	}
	probeClip(t, vod, sp.Duration)
	return vod
}

// TestRecordHLSPlayback: a recorded span plays as an HLS VOD playlist in
// ffprobe, Chromium's own player and hls.js; bad and unrecorded requests
// get JSON errors, and live HLS (no start) is what it was.
func TestRecordHLSPlayback(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv, sp := recordClip(t, "live/cam1", 6)
	vod := playSpanHLS(t, srv.URL, "live/cam1", sp)

	t.Run("native", func(t *testing.T) {
		chromium(t)
		browser := mediaBrowser(t)
		page := pageServer(t, `<video src="`+vod+`" autoplay muted></video>`, "")
		if _, err := chromedp.Run(browser, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		videoPlays(t, browser)
	})
	t.Run("hls.js", func(t *testing.T) {
		chromium(t)
		dir := hlsJS(t)
		browser := mediaBrowser(t)
		page := pageServer(t, `<script src="/files/hls.min.js"></script><video autoplay muted></video>
<script>const hls = new Hls(); hls.loadSource("`+vod+`"); hls.attachMedia(document.querySelector('video'));
hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) console.error('hls.js', d.type, d.details); });</script>`, dir)
		if _, err := chromedp.Run(browser, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		videoPlays(t, browser)
	})

	for _, c := range []struct {
		url  string
		want int
	}{
		{recordingHLS(srv.URL, "live/cam1", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Minute), http.StatusNotFound},
		{srv.URL + "/hls/live/cam1/index.m3u8?start=yesterday", http.StatusBadRequest},
		{srv.URL + "/hls/live/cam1/index.m3u8?start=2026-01-01T00:00:00Z&duration=-1s", http.StatusBadRequest},
		{srv.URL + "/hls/live/cam1/recording_segment.m4s?seg=../../x&offset=0", http.StatusNotFound},
		{recordingHLS(srv.URL, "other/cam1", sp.Start, time.Minute), http.StatusNotFound}, // no rule records it
		{srv.URL + "/hls/live/cam1/index.m3u8", http.StatusNotFound},                      // live: offline
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s: %s %s, want %d and a JSON error", c.url, resp.Status, body, c.want)
		}
	}
}

// TestRecordHLSEventGrows: without a duration the playlist is an event
// playlist from start that lists more segments as the recorder finishes
// them, without an end while the path is recorded, and ends once the
// publisher has.
func TestRecordHLSEventGrows(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, func(c *config.Config) {
		c.Data = t.TempDir()
		c.Media.Record = []config.MediaRecord{{Filter: "live/#", Segment: time.Second}}
	})
	start := time.Now().Add(-time.Minute)
	ff := publishClip(t, srv.RTMP().Addr(), "live/event", 120)
	event := recordingHLS(srv.URL, "live/event", start, 0)
	var first string
	testkit.Eventually(t, 60*time.Second, "an event playlist with a segment", func() bool {
		resp, err := http.Get(event)
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		first = string(body)
		return resp.StatusCode == http.StatusOK && strings.Contains(first, "#EXTINF:")
	})
	if !strings.Contains(first, "#EXT-X-PLAYLIST-TYPE:EVENT\n") || strings.Contains(first, "#EXT-X-ENDLIST") {
		t.Fatalf("event playlist while recording:\n%s", first)
	}
	testkit.Eventually(t, 60*time.Second, "the event playlist to grow", func() bool {
		later := fetchPlaylist(t, event)
		return strings.Count(later, "#EXTINF:") > strings.Count(first, "#EXTINF:") && firstListed(later) == firstListed(first)
	})
	ff.stop()
	testkit.Eventually(t, 30*time.Second, "the event playlist to end with the recording", func() bool {
		return strings.HasSuffix(fetchPlaylist(t, event), "#EXT-X-ENDLIST\n")
	})
}

// firstListed is the URI of a playlist's first media segment.
func firstListed(playlist string) string {
	_, after, _ := strings.Cut(playlist, "#EXTINF:")
	lines := strings.SplitN(after, "\n", 3)
	if len(lines) < 2 {
		return ""
	}
	return lines[1]
}
