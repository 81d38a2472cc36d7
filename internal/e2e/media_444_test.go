package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMediaHigh444PassesThrough: H.264 High 4:4:4 (libx264's choice for
// RGB input) published over RTMP is remuxed unchanged to HLS and RTSP:
// ffprobe reads the profile back from each, as docs/MEDIA.md says.
func TestMediaHigh444PassesThrough(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)
	publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/hi444", "-pix_fmt", "yuv444p", "-s", "320x240")
	waitOnline(t, srv, "live/hi444")
	for name, args := range map[string][]string{
		"hls":  {srv.URL + "/hls/live/hi444/index.m3u8"},
		"rtsp": {"-rtsp_transport", "tcp", "rtsp://" + srv.RTSP().Addr() + "/live/hi444"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		all := append([]string{"-v", "error", "-select_streams", "v:0", "-show_entries", "stream=profile,pix_fmt", "-of", "csv=p=0"}, args...)
		out, err := exec.CommandContext(ctx, "ffprobe", all...).CombinedOutput()
		cancel()
		if got := strings.TrimSpace(string(out)); err != nil || !strings.HasPrefix(got, "High 4:4:4 Predictive,yuv444p") {
			t.Errorf("%s: ffprobe says %q (%v), want High 4:4:4 Predictive,yuv444p", name, got, err)
		}
	}
}
