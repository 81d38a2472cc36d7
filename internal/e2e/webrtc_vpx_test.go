package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"streamhub/internal/testkit"
)

// vpxFrames are tiny synthetic VP8/VP9 frames: pass-through never decodes
// them, it only needs the keyframe bit in their first bytes right.
var vpxFrames = map[string]struct{ key, delta []byte }{
	// VP8 frame tag: bit 0 clear is a keyframe, then the start code 9d 01 2a and 320x240.
	webrtc.MimeTypeVP8: {
		key:   append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, bytes.Repeat([]byte{0x55}, 2000)...),
		delta: append([]byte{0x11, 0x02, 0x00}, bytes.Repeat([]byte{0x66}, 300)...),
	},
	// VP9 uncompressed header: frame marker 10, profile 0, keyframe, shown,
	// sync code 49 83 42, colour space and range, 320x240.
	webrtc.MimeTypeVP9: {
		key:   append([]byte{0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0e, 0xf0}, bytes.Repeat([]byte{0x55}, 2000)...),
		delta: append([]byte{0x86}, bytes.Repeat([]byte{0x66}, 300)...),
	},
}

// A pion WHIP publisher sending VP8 (or VP9) makes a path that a pion WHEP
// reader plays: the answer negotiates the codec and the reader gets RTP
// with its payload type; the $media state names the codec.
func TestWHIPToWHEPVPx(t *testing.T) {
	s := mediaServer(t, nil)
	for _, mime := range []string{webrtc.MimeTypeVP8, webrtc.MimeTypeVP9} {
		t.Run(mime, func(t *testing.T) {
			codecName := map[string]string{webrtc.MimeTypeVP8: "vp8", webrtc.MimeTypeVP9: "vp9"}[mime]
			path := "live/" + codecName
			publishVPx(t, s, path, mime)
			waitOnline(t, s, path)
			for _, st := range s.Media().List() {
				if st.Path == path && (len(st.Tracks) != 1 || st.Tracks[0].Codec != codecName || st.Tracks[0].ClockRate != 90000) {
					t.Errorf("$media tracks %+v, want one %s track at 90 kHz", st.Tracks, codecName)
				}
			}

			refusedElsewhere(t, s, path)

			packets, codec := playWHEPVideo(t, s, path)
			testkit.Eventually(t, 10*time.Second, mime+" packets", func() bool { return packets.Load() > 20 })
			if c, _ := codec.Load().(string); c != mime {
				t.Errorf("WHEP codec %q, want %q", c, mime)
			}
		})
	}
}

// refusedElsewhere checks that HLS and RTSP, which cannot carry VP8 or
// VP9, refuse the path at once rather than serve an empty stream.
func refusedElsewhere(t *testing.T, s *testkit.Server, path string) {
	t.Helper()
	resp, err := http.Get(s.URL + "/hls/" + path + "/index.m3u8")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("HLS: %s %s", resp.Status, body)
	if resp.StatusCode == http.StatusOK {
		t.Errorf("HLS served %s: %s", path, body)
	}
	conn, err := net.DialTimeout("tcp", s.RTSP().Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "DESCRIBE rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\n\r\n", s.RTSP().Addr(), path)
	status, err := bufio.NewReader(conn).ReadString('\n')
	t.Logf("RTSP: %q %v", status, err)
	if err != nil || strings.Contains(status, " 200 ") {
		t.Errorf("RTSP DESCRIBE of %s: %q %v", path, status, err)
	}
}

// playWHEPVideo starts a pion WHEP reader of path's video and counts the
// RTP packets it gets with the negotiated payload type.
func playWHEPVideo(t *testing.T, s *testkit.Server, path string) (packets *atomic.Int64, codec *atomic.Value) {
	t.Helper()
	pc := newRTCPeerConnection(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	packets, codec = &atomic.Int64{}, &atomic.Value{}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		codec.Store(track.Codec().MimeType)
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if pkt.PayloadType == uint8(track.PayloadType()) && len(pkt.Payload) > 0 {
				packets.Add(1)
			}
		}
	})
	if resp := postOfferTo(t, s.URL+"/v1/whep/"+path, pc, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/whep: %s", resp.Status)
	}
	return packets, codec
}

// publishVPx starts a WHIP session sending synthetic frames of mime at 30
// per second (a keyframe every 15), offering no other video codec, until
// the test ends.
func publishVPx(t *testing.T, s *testkit.Server, path, mime string) {
	t.Helper()
	pc := newRTCPeerConnection(t)
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		t.Fatal(err)
	}
	// Offer only mime, as a browser page does with setCodecPreferences.
	only := webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}}
	if mime == webrtc.MimeTypeVP9 {
		only.PayloadType, only.SDPFmtpLine = 98, "profile-id=0"
	}
	if err := tr.SetCodecPreferences([]webrtc.RTPCodecParameters{only}); err != nil {
		t.Fatal(err)
	}
	if resp := postOfferTo(t, s.URL+"/v1/whip/"+path, pc, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/whip: %s", resp.Status)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for i := 0; ; i++ {
			frame := vpxFrames[mime].delta
			if i%15 == 0 {
				frame = vpxFrames[mime].key
			}
			if err := track.WriteSample(media.Sample{Data: frame, Duration: time.Second / 30}); err != nil {
				return
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait() })
}

// An offer listing VP8 before H.264 (as browsers and pion do) gets H.264
// first in the WHIP answer, so that the path also reaches RTMP, RTSP and
// HLS readers; VP8 and VP9 are taken when the sender offers nothing else.
func TestWHIPPrefersH264(t *testing.T) {
	s := mediaServer(t, nil)
	pc := newRTCPeerConnection(t)
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	resp := postOfferTo(t, s.URL+"/v1/whip/live/prefer", pc, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/whip: %s", resp.Status)
	}
	offered := firstVideoCodec(t, pc.LocalDescription().SDP)
	answered := firstVideoCodec(t, pc.RemoteDescription().SDP)
	if !strings.EqualFold(offered, "VP8") || !strings.EqualFold(answered, "H264") {
		t.Fatalf("offer's first video codec %s, answer's %s; want VP8 then H264", offered, answered)
	}
}

// firstVideoCodec is the encoding name of the first payload type of the
// SDP's first video m-line.
func firstVideoCodec(t *testing.T, sdp string) string {
	t.Helper()
	var pt string
	for _, line := range strings.Split(sdp, "\r\n") {
		if fields := strings.Fields(line); pt == "" && len(fields) > 3 && fields[0] == "m=video" {
			pt = fields[3]
		}
		if rest, ok := strings.CutPrefix(line, "a=rtpmap:"+pt+" "); ok && pt != "" {
			name, _, _ := strings.Cut(rest, "/")
			return name
		}
	}
	t.Fatalf("no video codec in %s", sdp)
	return ""
}

// Chromium publishing a canvas over WHIP with VP8 as its only codec makes
// a VP8 path that a pion WHEP reader plays.
func TestBrowserWHIPVP8ToWHEP(t *testing.T) {
	s := mediaServer(t, nil)
	browser := webrtcBrowser(t, whipPage, "?server="+s.URL+"&path=live/canvas8&codec=video/VP8")
	waitConnected(t, browser)
	waitOnline(t, s, "live/canvas8")
	for _, st := range s.Media().List() {
		if st.Path == "live/canvas8" && (len(st.Tracks) != 1 || st.Tracks[0].Codec != "vp8") {
			t.Fatalf("$media tracks %+v, want one vp8 track", st.Tracks)
		}
	}
	packets, codec := playWHEPVideo(t, s, "live/canvas8")
	testkit.Eventually(t, 15*time.Second, "VP8 packets", func() bool { return packets.Load() > 20 })
	if c, _ := codec.Load().(string); c != webrtc.MimeTypeVP8 {
		t.Errorf("WHEP codec %q, want %q", c, webrtc.MimeTypeVP8)
	}
}
