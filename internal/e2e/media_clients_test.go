package e2e

import (
	"net/http"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// Media connections are clients like any other: an RTMP publisher and
// RTSP and HLS readers (ffmpeg, ffprobe) are listed by GET
// /v1/admin/clients with their path, counted per protocol in the stats
// and GET /v1/media (0, 1, 2 RTSP readers, not one stream), and DELETE
// kicks them: the ffmpeg publisher and RTSP reader are cut off and exit.
func TestMediaClientsListedCountedKicked(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)
	rtmpURL := "rtmp://" + srv.RTMP().Addr() + "/live/cam1"
	rtspURL := "rtsp://" + srv.RTSP().Addr() + "/live/cam1"
	publisher := startFFmpeg(t, "ffmpeg publisher", "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-c:v", "libx264", "-pix_fmt", "yuv420p",
		"-preset", "ultrafast", "-g", "30", "-f", "flv", rtmpURL)
	waitOnline(t, srv, "live/cam1")

	wantReaders := func(protocol string, n int) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, "GET /v1/media to count the readers", func() bool {
			return mediaReaders(t, srv, "live/cam1")[protocol] == n && listed(t, srv, "rtsp", "reader") == n
		})
	}
	read := func() *ffmpegProc {
		return startFFmpeg(t, "ffmpeg reader", "-hide_banner", "-loglevel", "error", "-rtsp_transport", "tcp",
			"-i", rtspURL, "-f", "null", "-")
	}
	// DESCRIBE alone (ffprobe) makes the path's RTSP stream, with no reader.
	probe(t, rtspURL, "-rtsp_transport", "tcp")
	wantReaders("rtsp", 0)
	first := read()
	wantReaders("rtsp", 1)
	second := read()
	wantReaders("rtsp", 2)
	first.stop()
	wantReaders("rtsp", 1)
	kick(t, srv, findClient(t, srv, "rtsp", "reader").ID) // the session and its connection close
	select {
	case <-second.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the kicked ffmpeg RTSP reader is still running")
	}
	wantReaders("rtsp", 0)

	// An HLS reader is listed, counted, and kicked with a 403.
	probe(t, srv.URL+"/hls/live/cam1/index.m3u8")
	hls := findClient(t, srv, "hls", "reader")
	if hls.Path != "live/cam1" || mediaReaders(t, srv, "live/cam1")["hls"] != 1 {
		t.Fatalf("HLS reader: %+v, readers %v", hls, mediaReaders(t, srv, "live/cam1"))
	}
	kick(t, srv, hls.ID)
	if resp := getStatus(t, srv.URL+"/hls/live/cam1/index.m3u8"); resp != http.StatusForbidden {
		t.Fatalf("a kicked HLS reader's next request: %d, want 403", resp)
	}

	pub := findClient(t, srv, "rtmp", "publisher")
	if pub.Path != "live/cam1" || pub.Remote == "" {
		t.Fatalf("RTMP publisher listed as %+v", pub)
	}
	var stats struct{ Connections map[string]int }
	getJSON(t, srv.URL+"/v1/admin/stats", &stats)
	if stats.Connections["rtmp"] != 1 {
		t.Fatalf("stats connections: %v, want rtmp 1", stats.Connections)
	}
	kick(t, srv, pub.ID)
	select {
	case <-publisher.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the kicked ffmpeg publisher is still running")
	}
	testkit.Eventually(t, 10*time.Second, "the path to go offline", func() bool { return len(srv.Media().List()) == 0 })
}

func clients(t *testing.T, srv *testkit.Server) []adminClient {
	t.Helper()
	var list struct{ Clients []adminClient }
	adminGet(t, srv, "clients", &list)
	return list.Clients
}

// listed is how many clients of transport in role GET /v1/admin/clients lists.
func listed(t *testing.T, srv *testkit.Server, transport, role string) int {
	n := 0
	for _, c := range clients(t, srv) {
		if c.Transport == transport && c.Role == role {
			n++
		}
	}
	return n
}

func findClient(t *testing.T, srv *testkit.Server, transport, role string) adminClient {
	t.Helper()
	for _, c := range clients(t, srv) {
		if c.Transport == transport && c.Role == role {
			return c
		}
	}
	t.Fatalf("no %s %s in %+v", transport, role, clients(t, srv))
	return adminClient{}
}

func mediaReaders(t *testing.T, srv *testkit.Server, path string) map[string]int {
	var listed struct{ Paths []mediaState }
	getJSON(t, srv.URL+"/v1/media", &listed)
	for _, p := range listed.Paths {
		if p.Path == path {
			return p.Readers
		}
	}
	return nil
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// An HLS reader, which has no connection of its own, leaves the list and
// the count once it has made no request for hls.idle.
func TestMediaHLSReaderExpires(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, func(c *config.Config) { c.HLS.Idle = 10 * time.Second })
	publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/cam1")
	waitOnline(t, srv, "live/cam1")
	probe(t, srv.URL+"/hls/live/cam1/index.m3u8")
	if c := findClient(t, srv, "hls", "reader"); c.Path != "live/cam1" {
		t.Fatalf("HLS reader listed as %+v", c)
	}
	testkit.Eventually(t, 40*time.Second, "the idle HLS reader to leave", func() bool {
		return listed(t, srv, "hls", "reader") == 0 && mediaReaders(t, srv, "live/cam1")["hls"] == 0
	})
}
