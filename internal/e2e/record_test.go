package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/media"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/ports"
)

// publishClip publishes a short test pattern (H.264 with a keyframe a
// second, AAC) over RTMP for secs seconds; ffmpeg then ends, and the path
// with it.
func publishClip(t *testing.T, rtmpAddr, path string, secs int) *ffmpegProc {
	t.Helper()
	return startFFmpeg(t, "ffmpeg publisher", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-c:a", "aac",
		"-t", strconv.Itoa(secs), "-f", "flv", "rtmp://"+rtmpAddr+"/"+path)
}

type span struct {
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration"`
}

// recordings is GET /v1/media/<path>/recordings of the server at base.
func recordings(t *testing.T, base, path string) []span {
	t.Helper()
	resp, err := http.Get(base + "/v1/media/" + path + "/recordings")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("recordings: %s %s", resp.Status, body)
	}
	var out []span
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("recordings: %v: %s", err, body)
	}
	return out
}

// probeDuration is ffprobe's duration of the file at name, in seconds.
func probeDuration(t *testing.T, name string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "format=duration",
		"-of", "csv=p=0", name).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", name, err, out)
	}
	d, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	return d
}

// TestRecordRTMPPlayback: a path published over RTMP with recording on is
// listed as one span and answered as one fMP4 file ffprobe reads, H.264
// and AAC, as long as the clip (within a segment).
func TestRecordRTMPPlayback(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv, sp := recordClip(t, "live/cam1", 6)
	playSpan(t, srv.URL, "live/cam1", sp)

	var listed struct {
		Recorded []struct {
			Path        string
			First, Last time.Time
			Bytes       int64
		}
	}
	getJSON(t, srv.URL+"/v1/media", &listed)
	if len(listed.Recorded) != 1 || listed.Recorded[0].Path != "live/cam1" || listed.Recorded[0].Bytes <= 0 ||
		!listed.Recorded[0].First.Equal(sp.Start) || !listed.Recorded[0].Last.After(listed.Recorded[0].First) {
		t.Fatalf("GET /v1/media recorded: %+v, want live/cam1 from %s", listed.Recorded, sp.Start)
	}

	// The path's retained state says so too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := sseFrom(t, ctx, srv.URL+"/v1/subscribe?topic=%24media%2Flive%2Fcam1", "")
	ev, err := events.Next()
	if err != nil {
		t.Fatalf("no retained $media/live/cam1: %v", err)
	}
	var st media.State
	if err := json.Unmarshal([]byte(ev.Data), &st); err != nil || st.Recorded == nil ||
		!st.Recorded.First.Equal(sp.Start) || st.Recorded.Bytes <= 0 {
		t.Fatalf("$media/live/cam1: %s (%v), want recorded from %s", ev.Data, err, sp.Start)
	}

	// Out of the recorded time, and bad requests: JSON errors.
	for query, want := range map[string]int{
		"start=2000-01-01T00:00:00Z&duration=60s": http.StatusNotFound,
		"start=yesterday&duration=60s":            http.StatusBadRequest,
		"start=2000-01-01T00:00:00Z&duration=-1s": http.StatusBadRequest,
	} {
		resp, err := http.Get(srv.URL + "/v1/media/live/cam1/recording?" + query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || !strings.Contains(string(body), `"error"`) {
			t.Fatalf("%s: %s %s, want %d and a JSON error", query, resp.Status, body, want)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/media/other/cam1/recordings")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a path no rule records: %s, want 404", resp.Status)
	}
}

// recordClip records a clip of secs seconds published over RTMP to path
// in 1 s segments and returns the server and the one span recorded.
func recordClip(t *testing.T, path string, secs int) (*testkit.Server, span) {
	t.Helper()
	srv := mediaServer(t, func(c *config.Config) {
		c.Data = t.TempDir()
		c.Media.Record = []config.MediaRecord{{Filter: "live/#", Segment: time.Second}}
	})
	ff := publishClip(t, srv.RTMP().Addr(), path, secs)
	select {
	case <-ff.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg did not end its clip")
	}
	testkit.Eventually(t, 15*time.Second, "the recording finished", func() bool {
		return len(srv.Media().List()) == 0 && !srv.Recorder().Recording(path)
	})
	spans := recordings(t, srv.URL, path)
	if len(spans) != 1 || spans[0].Duration < float64(secs)/2 {
		t.Fatalf("spans %+v, want one of the %d s clip", spans, secs)
	}
	// The recorder joins when the path's state says it is online: frames
	// a starting ffmpeg bursts out before that are not recorded.
	if spans[0].Duration > float64(secs)+1 {
		t.Fatalf("span %+v longer than the %d s clip", spans[0], secs)
	}
	return srv, spans[0]
}

// playSpan fetches the recording of the span as one file and checks
// ffprobe reads it whole: H.264 320x240 and AAC, lasting the span ± a
// segment.
func playSpan(t *testing.T, base, path string, sp span) {
	t.Helper()
	q := url.Values{"start": {sp.Start.Format(time.RFC3339Nano)}, "duration": {"60s"}}
	resp, err := http.Get(base + "/v1/media/" + path + "/recording?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("recording: %s %s", resp.Status, body[:min(len(body), 200)])
	}
	file := filepath.Join(t.TempDir(), "rec.mp4")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	probeClip(t, file, sp.Duration)
}

// probeClip checks with ffprobe that name holds the clip publishClip
// sends, H.264 320x240 and AAC, lasting secs ± a segment.
func probeClip(t *testing.T, name string, secs float64) {
	t.Helper()
	var video, audio bool
	for _, s := range probe(t, name) {
		video = video || (s.CodecName == "h264" && s.Width == 320 && s.Height == 240)
		audio = audio || s.CodecName == "aac"
	}
	if !video || !audio {
		t.Fatalf("%s: want h264 320x240 and aac, got %+v", name, probe(t, name))
	}
	if d := probeDuration(t, name); d < secs-1 || d > secs+1 {
		t.Fatalf("%s lasts %.2f s, want %.2f s ± a segment", name, d, secs)
	}
}

// TestRecordSurvivesKill9: the binary records a path published over RTMP
// and is killed with SIGKILL mid-stream; restarted, it lists what was
// recorded up to the last finished segment, removed the half-written one,
// and plays the span back as one file and over HLS. Published to again,
// the whole recording plays over HLS in ffprobe and Chromium, across the
// hole the kill left.
func TestRecordSurvivesKill9(t *testing.T) {
	requireFFmpeg(t)
	if testing.Short() {
		t.Skip("kills and restarts the server")
	}
	t.Parallel()
	data := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "streamhub.yaml")
	if err := os.WriteFile(cfg, []byte("media:\n  record:\n    - {filter: \"live/#\", segment: 1s}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rtmpAddr := "127.0.0.1:" + strconv.Itoa(ports.Free(t))
	srv := startBinary(t, data, "--config", cfg, "--rtmp", rtmpAddr)
	ff := publishClip(t, rtmpAddr, "live/cam1", 60)
	dir := filepath.Join(data, "recordings", "live", "cam1")
	testkit.Eventually(t, 60*time.Second, "three finished segments", func() bool { return len(segmentFiles(dir)) >= 3 })
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait() //nolint:errcheck // killed on purpose
	ff.stop()
	kept := segmentFiles(dir)

	rtmpAgain := "127.0.0.1:" + strconv.Itoa(ports.Free(t))
	again := startBinary(t, data, "--config", cfg, "--rtmp", rtmpAgain)
	spans := recordings(t, again.url, "live/cam1")
	if len(spans) != 1 || spans[0].Duration < float64(len(kept))-1 {
		t.Fatalf("after the restart: spans %+v, want one over the %d segments kept", spans, len(kept))
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Fatalf("half-written segment %s left after the restart", e.Name())
		}
	}
	first := spans[0]
	playSpan(t, again.url, "live/cam1", first)
	playSpanHLS(t, again.url, "live/cam1", first)

	// Published again after the restart: the whole recording, both
	// recordings with the hole between them, plays over HLS across a
	// discontinuity. A restart quicker than the span tolerance (1 s)
	// lists both as one span, a slower one as two: either way the
	// second recording is in once the playlist has its discontinuity, and
	// done once it ends.
	ff = publishClip(t, rtmpAgain, "live/cam1", 4)
	select {
	case <-ff.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg did not end its clip")
	}
	event := recordingHLS(again.url, "live/cam1", first.Start, 0)
	var pl string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last seen: spans %+v, event playlist:\n%s", spans, pl)
		}
	})
	testkit.Eventually(t, 30*time.Second, "the second recording to its end", func() bool {
		spans = recordings(t, again.url, "live/cam1")
		pl = fetchPlaylist(t, event)
		return strings.Contains(pl, "#EXT-X-DISCONTINUITY\n") && strings.HasSuffix(pl, "#EXT-X-ENDLIST\n")
	})
	last := spans[len(spans)-1]
	end := last.Start.Add(time.Duration(last.Duration * float64(time.Second)))
	whole := recordingHLS(again.url, "live/cam1", first.Start, end.Sub(first.Start))
	wholePl := fetchPlaylist(t, whole)
	if strings.Count(wholePl, "#EXT-X-DISCONTINUITY\n") != 1 || strings.Count(wholePl, "#EXT-X-MAP:") != 2 {
		t.Fatalf("playlist over both recordings, want one discontinuity and an init section each:\n%s", wholePl)
	}
	if d, want := probeDuration(t, whole), playlistSeconds(t, wholePl); d < want-1 || d > want+1 {
		t.Fatalf("HLS recording of both recordings lasts %.2f s, want its segments' %.2f s ± a segment", d, want)
	}
	chromium(t)
	browser := mediaBrowser(t)
	page := pageServer(t, `<video src="`+whole+`" autoplay muted></video>`, "")
	if _, err := chromedp.Run(browser, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	videoReaches(t, browser, first.Duration+1) // past the discontinuity
}

// TestRecordRetentionRemovesOldest: with a byte limit below one segment,
// finishing a segment removes the older ones: one is left, the newest
// (which retention removes first is TestRetentionRemovesOldestFirst in
// internal/media/record).
func TestRecordRetentionRemovesOldest(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	data := t.TempDir()
	srv := mediaServer(t, func(c *config.Config) {
		c.Data = data
		c.Media.Record = []config.MediaRecord{{Filter: "live/#", Segment: 500 * time.Millisecond, Bytes: 1}}
	})
	ff := publishClip(t, srv.RTMP().Addr(), "live/old", 4)
	select {
	case <-ff.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("ffmpeg did not end its clip")
	}
	testkit.Eventually(t, 15*time.Second, "the recording finished", func() bool {
		return len(srv.Media().List()) == 0 && !srv.Recorder().Recording("live/old")
	})
	if names := segmentFiles(filepath.Join(data, "recordings", "live", "old")); len(names) != 1 {
		t.Fatalf("segments left %v, want the newest alone", names)
	}
}

func segmentFiles(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".mp4") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestRecordingNeedsReadRight: recordings are read with the live reading
// right on media/<path>, over the API and HLS: the viewer lists them, the
// publisher-only cam is refused 403, anonymous 401, each as JSON.
func TestRecordingNeedsReadRight(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte("cam:"+string(hash)+"\nviewer:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := mediaServer(t, func(c *config.Config) {
		c.Data = t.TempDir()
		c.Media.Record = []config.MediaRecord{{Filter: "live/#"}}
		c.Auth = config.Auth{Required: true, Users: users, JWT: config.JWT{Secret: testSecret}, ACL: []config.ACL{
			{Who: "cam", Publish: []string{"media/live/#"}},
			{Who: "viewer", Subscribe: []string{"media/live/#"}},
		}}
	})
	for _, c := range []struct {
		user string
		want int
	}{{"viewer", http.StatusOK}, {"cam", http.StatusForbidden}, {"", http.StatusUnauthorized}} {
		for _, what := range []string{"/v1/media/live/cam1/recordings", "/v1/media/live/cam1/recording?start=2026-01-01T00:00:00Z&duration=1s",
			"/hls/live/cam1/index.m3u8?start=2026-01-01T00:00:00Z&duration=1s"} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+what, nil)
			if c.user != "" {
				req.SetBasicAuth(c.user, "pw")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := c.want
			if want == http.StatusOK && !strings.HasSuffix(what, "/recordings") {
				want = http.StatusNotFound // nothing recorded then
			}
			if resp.StatusCode != want || (want != http.StatusOK && !strings.Contains(string(body), `"error"`)) {
				t.Errorf("%s %s: %s %s, want %d", c.user, what, resp.Status, body, want)
			}
			if want == http.StatusOK && strings.TrimSpace(string(body)) != "[]" {
				t.Errorf("%s %s: %s, want []", c.user, what, body)
			}
		}
	}
}

// playlistSeconds is the sum of a media playlist's segment durations.
func playlistSeconds(t *testing.T, pl string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(pl, "\n") {
		if v, ok := strings.CutPrefix(line, "#EXTINF:"); ok {
			v, _, _ = strings.Cut(v, ",") // the title after the comma
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("segment duration %q: %v", line, err)
			}
			sum += secs
		}
	}
	return sum
}
