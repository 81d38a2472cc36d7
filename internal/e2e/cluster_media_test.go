package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/webrtc/v4"

	"streamhub/internal/config"
	"streamhub/internal/media"
	"streamhub/internal/testkit"
)

// TestClusterMediaReadFromAnotherNode: on three NATS processes, a path
// published over RTMP to node a (a process) is read over RTSP, RTMP, HLS
// and WHEP (a pion peer and headless Chromium) from node b (in the test); a second publisher on b is refused; and
// when a is killed the path ends on b and is no longer found there.
func TestClusterMediaReadFromAnotherNode(t *testing.T) {
	requireFFmpeg(t)
	natsProcs := testkit.StartNATSProcesses(t, 3)
	var urls []string
	for _, p := range natsProcs {
		urls = append(urls, p.URL)
	}
	rtmpA := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	a := startBinary(t, "", "--cluster", strings.Join(urls, ","), "--node", "a", "--rtmp", rtmpA)
	b := mediaServer(t, func(c *config.Config) {
		c.Cluster.URLs, c.Cluster.Node = urls, "b"
	})

	publishFFmpeg(t, "flv", "rtmp://"+rtmpA+"/live/cam1")
	testkit.Eventually(t, 20*time.Second, "live/cam1 online on a", func() bool { return listsPath(a.url, "live/cam1") })

	wantH264AAC(t, probe(t, "rtsp://"+b.RTSP().Addr()+"/live/cam1", "-rtsp_transport", "tcp"))
	wantH264AAC(t, probe(t, "rtmp://"+b.RTMP().Addr()+"/live/cam1"))
	wantH264AAC(t, probe(t, b.URL+"/hls/live/cam1/index.m3u8"))
	packets, codec := playWHEPVideo(t, b, "live/cam1")
	testkit.Eventually(t, 20*time.Second, "H.264 over WHEP from b", func() bool { return packets.Load() > 30 })
	if c, _ := codec.Load().(string); c != webrtc.MimeTypeH264 {
		t.Errorf("WHEP codec %q, want H.264", c)
	}
	t.Run("WHEP browser on b", func(t *testing.T) { browserPlaysWHEP(t, b.URL, "live/cam1") })
	if listsPath(b.URL, "live/cam1") {
		t.Error("b lists a's path as its own")
	}

	// One publisher per path across the cluster.
	ffmpegFails(t, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-f", "flv", "rtmp://"+b.RTMP().Addr()+"/live/cam1")

	// A reader on b when a dies: the path ends there.
	rd, err := b.Media().Read("live/cam1", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	_ = a.cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if _, err = rd.Next(ctx); err != nil {
			break
		}
	}
	if !errors.Is(err, media.ErrEnded) {
		t.Fatalf("reader on b after a died: %v, want the path ended", err)
	}
	// b says so in $media/live/cam1, a's retained state: a could not.
	events := sseFrom(t, ctx, b.URL+"/v1/subscribe?topic=%24media%2Flive%2Fcam1", "")
	for {
		ev, err := events.Next()
		if err != nil {
			t.Fatalf("$media/live/cam1 on b never went offline: %v", err)
		}
		var st media.State
		if json.Unmarshal([]byte(ev.Data), &st) == nil && !st.Online {
			break
		}
	}
	testkit.Eventually(t, 20*time.Second, "live/cam1 not found on b", func() bool {
		rd, err := b.Media().Read("live/cam1", "test")
		if err == nil {
			rd.Close()
		}
		return errors.Is(err, media.ErrNotFound)
	})
}

// listsPath says whether GET /v1/media at base lists path.
func listsPath(base, path string) bool {
	resp, err := http.Get(base + "/v1/media")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var res struct{ Paths []media.State }
	if json.NewDecoder(resp.Body).Decode(&res) != nil {
		return false
	}
	for _, st := range res.Paths {
		if st.Path == path {
			return true
		}
	}
	return false
}

// browserPlaysWHEP opens the WHEP page on the server at base in headless
// Chromium and waits until the video's clock advances (polled: no timing
// is asserted, the page's context bounds the wait).
func browserPlaysWHEP(t *testing.T, base, path string) {
	browser := webrtcBrowser(t, whepPage, "?server="+base+"&path="+path)
	waitConnected(t, browser)
	currentTime := func() float64 {
		now, err := chromedp.Run(browser, chromedp.Evaluate[float64](`v.currentTime`))
		if err != nil {
			t.Fatal(err)
		}
		return now
	}
	var first float64
	testkit.Eventually(t, 30*time.Second, "the video playing", func() bool {
		first = currentTime()
		return first > 0
	})
	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("currentTime to advance past %.2fs", first), func() bool {
		return currentTime() > first
	})
}
