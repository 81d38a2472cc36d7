package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// requireFFmpeg skips only where ffmpeg cannot be had; scripts/test.sh
// installs it, so in CI these tests run.
func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/test.sh installs it): %v", tool, err)
		}
	}
}

// mediaServer starts a server with short HLS segments, so tests take seconds.
func mediaServer(t *testing.T, mutate func(*config.Config)) *testkit.Server {
	return testkit.Start(t, func(c *config.Config) {
		c.HLS.Segmentduration = 500 * time.Millisecond
		c.HLS.Segments = 3
		if mutate != nil {
			mutate(c)
		}
	})
}

// publishFFmpeg publishes the generated 720p30 stream (H.264 with
// a keyframe a second, AAC) to url with ffmpeg's muxer format, until the
// test ends or the returned stop is called. The video is 4:2:0 as cameras
// and OBS send it: from testsrc's RGB libx264 would pick High 4:4:4, which
// streamhub passes on as it is (TestMediaHigh444PassesThrough) but many
// hardware decoders do not take.
func publishFFmpeg(t *testing.T, format, url string, extra ...string) (stop func()) {
	t.Helper()
	args := []string{"-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-g", "30", "-c:a", "aac"}
	return startFFmpeg(t, "ffmpeg publisher", append(append(args, extra...), "-f", format, url)...).stop
}

// ffmpegProc is an ffmpeg run by a test.
type ffmpegProc struct {
	stop   func()        // kills it and waits
	exited chan struct{} // closed once it has exited, by itself or killed
}

// startFFmpeg runs ffmpeg with args until the test ends or stop is called;
// its errors are logged if the test fails.
func startFFmpeg(t *testing.T, name string, args ...string) *ffmpegProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ffmpeg", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &ffmpegProc{exited: make(chan struct{})}
	go func() { cmd.Wait(); close(p.exited) }() //nolint:errcheck // killed on purpose
	p.stop = func() {
		cancel()
		<-p.exited
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s: %s", name, stderr.String())
		}
	})
	return p
}

type probedStream struct {
	CodecName string `json:"codec_name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// probe runs ffprobe on url and returns its streams.
func probe(t *testing.T, url string, args ...string) []probedStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all := append(append([]string{"-v", "error"}, args...), "-show_entries", "stream=codec_name,width,height", "-of", "json", url)
	out, err := exec.CommandContext(ctx, "ffprobe", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", url, err, out)
	}
	var res struct{ Streams []probedStream }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("ffprobe output: %v\n%s", err, out)
	}
	return res.Streams
}

// wantH264AAC checks the stream came back whole: 720p H.264 and AAC.
func wantH264AAC(t *testing.T, streams []probedStream) {
	t.Helper()
	var video, audio bool
	for _, s := range streams {
		switch s.CodecName {
		case "h264":
			video = s.Width == 1280 && s.Height == 720
		case "aac":
			audio = true
		}
	}
	if !video || !audio {
		t.Fatalf("want h264 1280x720 and aac, got %+v", streams)
	}
}

// waitOnline waits until the path is listed by GET /v1/media.
func waitOnline(t *testing.T, srv *testkit.Server, path string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, path+" online", func() bool {
		for _, st := range srv.Media().List() {
			if st.Path == path {
				return true
			}
		}
		return false
	})
}

// rtmpPublished starts a server with live/cam1 published over RTMP.
func rtmpPublished(t *testing.T) *testkit.Server {
	t.Helper()
	srv := mediaServer(t, nil)
	publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/cam1")
	waitOnline(t, srv, "live/cam1")
	return srv
}

func TestMediaRTMPToHLS(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := rtmpPublished(t)

	base := srv.URL + "/hls/live/cam1/"
	// The muxer's first segment, fetched as soon as it is listed: the
	// playlist is first answered full, and the oldest segment leaves it
	// at the next one.
	first := firstSegment(t, base)
	seg := filepath.Join(t.TempDir(), first)
	resp, err := http.Get(base + first)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || os.WriteFile(seg, data, 0o600) != nil {
		t.Fatalf("first segment %s: %s", first, resp.Status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
		"frame=key_frame", "-read_intervals", "%+#1", "-of", "csv=p=0", seg).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe first segment: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, "1") {
		t.Fatalf("first segment %s does not start with a keyframe: key_frame=%q", first, got)
	}
	wantH264AAC(t, probe(t, base+"index.m3u8"))
	decodeClean(t, base+"index.m3u8")

	resp = testkit.Get(t, ctx, base, "")
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<video src="index.m3u8"`) {
		t.Fatalf("page lacks the video element:\n%s", page)
	}
}

// firstSegment follows the multivariant playlist at base to its media
// playlist and returns the first segment's name.
func firstSegment(t *testing.T, base string) string {
	t.Helper()
	media := firstURI(t, base+"index.m3u8")
	return firstURI(t, base+media)
}

func firstURI(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	t.Fatalf("%s lists no URI", url)
	return ""
}

// decodeClean reads url with ffmpeg for a few seconds and fails on any
// decode error ffmpeg reports.
func decodeClean(t *testing.T, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-i", url, "-t", "2", "-f", "null", "-").CombinedOutput()
	complaints := strings.TrimSpace(string(out))
	if strings.HasPrefix(url, "rtsp://") { // ffmpeg reads RTSP over UDP by default
		complaints = withoutUDPGuesses(complaints)
	}
	if err != nil || complaints != "" {
		t.Fatalf("ffmpeg decoding %s: %v\n%s", url, err, complaints)
	}
}

// withoutUDPGuesses is ffmpeg's error output reading RTP over UDP without
// the null muxer's "non monotonically increasing dts" lines: about 1 run
// in 8 of TestMediaRTMPToRTSP printed them, on this session's first commit
// as on its last, and never over TCP (RTMP, RTSP with -rtsp_transport tcp)
// from the same source. They come from ffmpeg rescaling onto the frame rate
// it guessed while probing a UDP stream before any sender report, which
// rounds two frames onto one tick; decoding errors still fail the test.
func withoutUDPGuesses(out string) string {
	var kept []string
	for line := range strings.Lines(out) {
		if strings.TrimSpace(line) != "" && !strings.Contains(line, "non monotonically increasing dts to muxer") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "")
}

func TestMediaRTMPToRTMP(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)
	url := "rtmp://" + srv.RTMP().Addr() + "/live/cam1"
	publishFFmpeg(t, "flv", url)
	waitOnline(t, srv, "live/cam1")
	wantH264AAC(t, probe(t, url))
	decodeClean(t, url)
}

// A publisher killed mid-stream ends its path cleanly: the retained
// $media state goes offline (seen here over SSE) and GET /v1/media drops it.
func TestMediaPublisherKilledGoesOffline(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp := testkit.Get(t, ctx, srv.URL+"/v1/subscribe?topic="+url.QueryEscape("$media/live/cam1"), "")
	defer resp.Body.Close()
	events := testkit.NewSSEReader(resp.Body)
	srv.WaitSubscribers(t, "$media/live/cam1", 1)

	stop := publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/cam1")
	online := nextState(t, events)
	if !online.Online || len(online.Tracks) != 2 || online.Tracks[0].Codec != "h264" || online.Tracks[1].Codec != "aac" {
		t.Fatalf("online state: %+v", online)
	}
	var listed struct{ Paths []mediaState }
	getJSON(t, srv.URL+"/v1/media", &listed)
	if len(listed.Paths) != 1 || listed.Paths[0].Path != "live/cam1" {
		t.Fatalf("GET /v1/media: %+v", listed)
	}

	stop() // SIGKILL, mid-GOP
	for {
		st := nextState(t, events)
		if !st.Online {
			break
		}
	}
	getJSON(t, srv.URL+"/v1/media", &listed)
	if len(listed.Paths) != 0 {
		t.Fatalf("GET /v1/media after the publisher died: %+v", listed)
	}
}

type mediaState struct {
	Path    string
	Online  bool
	Tracks  []struct{ Codec string }
	Readers map[string]int
}

func nextState(t *testing.T, events *testkit.SSEReader) mediaState {
	t.Helper()
	ev, err := events.Next()
	if err != nil {
		t.Fatal(err)
	}
	var st mediaState
	if err := json.Unmarshal([]byte(ev.Data), &st); err != nil {
		t.Fatalf("state %q: %v", ev.Data, err)
	}
	return st
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// RTMP in, RTSP out: RTP over TCP for ffprobe, over UDP (ffmpeg's
// default) for the decoding reader.
func TestMediaRTMPToRTSP(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := rtmpPublished(t)
	rtspURL := "rtsp://" + srv.RTSP().Addr() + "/live/cam1"
	wantH264AAC(t, probe(t, rtspURL, "-rtsp_transport", "tcp"))
	decodeClean(t, rtspURL)
}

// RTSP in over TCP and over UDP; out over RTSP, RTMP and HLS.
func TestMediaRTSPPublish(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			srv := mediaServer(t, nil)
			rtspURL := "rtsp://" + srv.RTSP().Addr() + "/live/cam1"
			publishFFmpeg(t, "rtsp", rtspURL, "-rtsp_transport", transport)
			waitOnline(t, srv, "live/cam1")
			wantH264AAC(t, probe(t, rtspURL, "-rtsp_transport", "tcp"))
			wantH264AAC(t, probe(t, "rtmp://"+srv.RTMP().Addr()+"/live/cam1"))
			wantH264AAC(t, probe(t, srv.URL+"/hls/live/cam1/index.m3u8"))
		})
	}
}
