package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"streamhub/internal/config"
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

// The codecs beyond H.264 and AAC, each published where it reproduced
// (H.265 with Opus over RTSP; MP3 over RTSP and RTMP) and read back over
// every protocol that carries it (fMP4 HLS for H.265 and Opus; ffprobe 5.1
// cannot read H.265 over enhanced RTMP). Small frames keep libx265
// real-time on a shared machine.
func TestMediaCodecs(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	cases := []struct {
		name     string
		publish  string // rtsp or rtmp
		encoders []string
		args     []string
		reads    []string
		want     []string
	}{
		{"rtsp_h265_opus", "rtsp", []string{"libx265", "libopus"}, []string{"-c:v", "libx265", "-c:a", "libopus"},
			[]string{"rtsp", "hls"}, []string{"hevc", "opus"}},
		{"rtsp_h264_mp3", "rtsp", []string{"libmp3lame"}, []string{"-c:a", "libmp3lame"},
			[]string{"rtsp", "rtmp"}, []string{"h264", "mp3"}},
		{"rtmp_h264_mp3", "rtmp", []string{"libmp3lame"}, []string{"-c:a", "libmp3lame", "-ar", "44100"},
			[]string{"rtsp", "rtmp"}, []string{"h264", "mp3"}},
		// a track no transport carries is left out; it used to crash the
		// server (gortmplib calls a callback for every announced track)
		{"rtmp_h264_pcm", "rtmp", nil, []string{"-c:a", "pcm_s16le"}, []string{"rtsp"}, []string{"h264"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, e := range tc.encoders {
				requireEncoder(t, e)
			}
			srv := mediaServer(t, func(c *config.Config) { c.HLS.Variant = "fmp4" })
			urls := map[string]string{
				"rtsp": "rtsp://" + srv.RTSP().Addr() + "/live/cam1",
				"rtmp": "rtmp://" + srv.RTMP().Addr() + "/live/cam1",
				"hls":  srv.URL + "/hls/live/cam1/index.m3u8",
			}
			args := append([]string{"-s", "320x240"}, tc.args...)
			muxer := "flv"
			if tc.publish == "rtsp" {
				muxer, args = "rtsp", append(args, "-rtsp_transport", "tcp")
			}
			publishFFmpeg(t, muxer, urls[tc.publish], args...)
			waitOnline(t, srv, "live/cam1")
			for _, read := range tc.reads {
				var extra []string
				if read == "rtsp" {
					extra = []string{"-rtsp_transport", "tcp"}
				}
				wantCodecs(t, probe(t, urls[read], extra...), tc.want...)
			}
		})
	}
}
