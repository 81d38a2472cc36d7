package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// requireEncoder skips when the installed ffmpeg lacks encoder (Debian's
// builds vary).
func requireEncoder(t *testing.T, encoder string) {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-encoders").Output()
	if err != nil || !strings.Contains(string(out), " "+encoder+" ") {
		t.Skipf("ffmpeg has no %s encoder", encoder)
	}
}

// wantCodecs checks that every codec name in want is among the probed streams.
func wantCodecs(t *testing.T, streams []probedStream, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, s := range streams {
		have[s.CodecName] = true
	}
	for _, c := range want {
		if !have[c] {
			t.Fatalf("want codecs %v, got %+v", want, streams)
		}
	}
}

// RTSP in and out with the codecs beyond H.264 and AAC: H.265 with Opus,
// and H.264 with MPEG-1/2 audio (MP3). Small frames keep libx265 real-time
// on a shared machine.
func TestMediaRTSPCodecs(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	cases := []struct {
		name     string
		encoders []string
		args     []string
		want     []string
	}{
		{"h265_opus", []string{"libx265", "libopus"}, []string{"-c:v", "libx265", "-c:a", "libopus"}, []string{"hevc", "opus"}},
		{"h264_mp3", []string{"libmp3lame"}, []string{"-c:a", "libmp3lame"}, []string{"h264", "mp3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, e := range tc.encoders {
				requireEncoder(t, e)
			}
			srv := mediaServer(t, nil)
			rtspURL := "rtsp://" + srv.RTSP().Addr() + "/live/cam1"
			args := append([]string{"-s", "320x240", "-rtsp_transport", "tcp"}, tc.args...)
			publishFFmpeg(t, "rtsp", rtspURL, args...)
			waitOnline(t, srv, "live/cam1")
			wantCodecs(t, probe(t, rtspURL, "-rtsp_transport", "tcp"), tc.want...)
		})
	}
}
