package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// securedMediaServer: cam may publish media/live/#, viewer may read it.
func securedMediaServer(t *testing.T) *testkit.Server {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("cam:"+string(hash)+"\nviewer:"+string(hash)+"\n"), 0o600)
	return mediaServer(t, func(c *config.Config) {
		c.Auth = config.Auth{Required: true, Users: users, JWT: config.JWT{Secret: testSecret}, ACL: []config.ACL{
			{Who: "cam", Publish: []string{"media/live/#"}},
			{Who: "viewer", Subscribe: []string{"media/live/#"}},
		}}
	})
}

// ffmpegFails runs ffmpeg (or ffprobe) and wants it refused, not hung.
func ffmpegFails(t *testing.T, tool string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("%s %v: want a refusal, got err=%v ctx=%v\n%s", tool, args, err, ctx.Err(), out)
	}
}

func TestMediaAuth(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := securedMediaServer(t)
	rtmpURL := "rtmp://" + srv.RTMP().Addr() + "/live/cam1"

	// Publishing needs the publish right: anonymous and the viewer are refused.
	gen := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-c:v", "libx264", "-f", "flv"}
	ffmpegFails(t, "ffmpeg", append(gen, rtmpURL)...)
	ffmpegFails(t, "ffmpeg", append(gen, rtmpURL+"?user=viewer&pass=pw")...)
	ffmpegFails(t, "ffmpeg", append(gen, rtmpURL+"?user=cam&pass=wrong")...)
	if len(srv.Media().List()) != 0 {
		t.Fatal("a refused publisher put a path online")
	}

	publishFFmpeg(t, "flv", rtmpURL+"?user=cam&pass=pw")
	waitOnline(t, srv, "live/cam1")

	// Reading needs the subscribe right, over RTMP and HLS alike.
	ffmpegFails(t, "ffprobe", "-v", "error", rtmpURL)
	ffmpegFails(t, "ffprobe", "-v", "error", rtmpURL+"?user=cam&pass=pw")
	wantH264AAC(t, probe(t, rtmpURL+"?user=viewer&pass=pw"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hlsURL := srv.URL + "/hls/live/cam1/index.m3u8"
	for _, c := range []struct {
		query string
		want  int
	}{
		{"", 401},
		{"?token=garbage", 401},
		{"?token=" + token(t, "cam", time.Now().Add(time.Hour)), 403},
	} {
		resp := testkit.Get(t, ctx, hlsURL+c.query, "")
		resp.Body.Close()
		if resp.StatusCode != c.want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("HLS %q: %s %s, want %d JSON", c.query, resp.Status, resp.Header.Get("Content-Type"), c.want)
		}
	}
	wantH264AAC(t, probe(t, hlsURL+"?token="+token(t, "viewer", time.Now().Add(time.Hour))))

	// RTSP: credentials in the URL, sent as Basic after a 401 challenge.
	rtspHost := srv.RTSP().Addr()
	rtspGen := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-c:v", "libx264", "-f", "rtsp"}
	ffmpegFails(t, "ffmpeg", append(rtspGen, "rtsp://"+rtspHost+"/live/cam2")...)
	ffmpegFails(t, "ffmpeg", append(rtspGen, "rtsp://viewer:pw@"+rtspHost+"/live/cam2")...)
	ffmpegFails(t, "ffprobe", "-v", "error", "rtsp://"+rtspHost+"/live/cam1")
	ffmpegFails(t, "ffprobe", "-v", "error", "rtsp://cam:pw@"+rtspHost+"/live/cam1")
	wantH264AAC(t, probe(t, "rtsp://viewer:pw@"+rtspHost+"/live/cam1", "-rtsp_transport", "tcp"))
	publishFFmpeg(t, "rtsp", "rtsp://cam:pw@"+rtspHost+"/live/cam2")
	waitOnline(t, srv, "live/cam2")
}
