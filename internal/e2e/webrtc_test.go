package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// rtcPeer is a pion client of POST /v1/webrtc.
type rtcPeer struct {
	pc       *webrtc.PeerConnection
	location string
}

func newRTCPeerConnection(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	return testkit.NewPeerConnection(t)
}

// postOffer sends pc's offer (every candidate gathered) and returns the
// response, applying the answer when it is one.
func postOffer(t *testing.T, s *testkit.Server, pc *webrtc.PeerConnection, header http.Header) *http.Response {
	t.Helper()
	return postOfferTo(t, s.URL+"/v1/webrtc", pc, header)
}

// postOfferTo is postOffer to url (WHEP, WHIP).
func postOfferTo(t *testing.T, url string, pc *webrtc.PeerConnection, header http.Header) *http.Response {
	t.Helper()
	return postOfferWith(t, http.DefaultClient, url, pc, header)
}

// postOfferWith is postOfferTo with client.
func postOfferWith(t *testing.T, client *http.Client, url string, pc *webrtc.PeerConnection, header http.Header) *http.Response {
	t.Helper()
	return testkit.PostOffer(t, client, url, pc, header)
}

// dialRTC connects pc, whose channels are already created.
func dialRTC(t *testing.T, s *testkit.Server, pc *webrtc.PeerConnection) *rtcPeer {
	t.Helper()
	resp := postOffer(t, s, pc, nil)
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/webrtc: %s %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer content type %q", ct)
	}
	return &rtcPeer{pc: pc, location: resp.Header.Get("Location")}
}

// inbox collects a channel's messages.
type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *inbox) add(m webrtc.DataChannelMessage) {
	b.mu.Lock()
	b.msgs = append(b.msgs, string(m.Data))
	b.mu.Unlock()
}

func (b *inbox) has(sub string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func openedChannel(t *testing.T, pc *webrtc.PeerConnection, label string, init *webrtc.DataChannelInit) (*webrtc.DataChannel, *inbox, *atomic.Bool) {
	t.Helper()
	dc, err := pc.CreateDataChannel(label, init)
	if err != nil {
		t.Fatal(err)
	}
	box, open := &inbox{}, &atomic.Bool{}
	dc.OnMessage(box.add)
	dc.OnOpen(func() { open.Store(true) })
	return dc, box, open
}

func TestWebRTCDataChannels(t *testing.T) {
	s := testkit.Start(t, nil)
	pc := newRTCPeerConnection(t)
	control, controlBox, controlOpen := openedChannel(t, pc, "streamhub", nil)
	chat, chatBox, chatOpen := openedChannel(t, pc, "rtc/chat", nil)
	peer := dialRTC(t, s, pc)
	testkit.Eventually(t, 10*time.Second, "channels open", func() bool { return controlOpen.Load() && chatOpen.Load() })

	// The control channel speaks the /v1/ws JSON protocol.
	if err := control.SendText(`{"op":"sub","id":"1","topics":["rtc/#"]}`); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "subscribed reply", func() bool { return controlBox.has(`"subscribed"`) })
	s.WaitSubscribers(t, "rtc/chat", 1)

	// HTTP publish reaches the topic channel as the bare payload, and the
	// control channel as an envelope.
	httpPublish(t, s.URL, "rtc/chat", []byte("hello from http"), "")
	testkit.Eventually(t, 5*time.Second, "topic channel delivery", func() bool { return chatBox.has("hello from http") })
	testkit.Eventually(t, 5*time.Second, "control channel delivery", func() bool { return controlBox.has(`"rtc/chat"`) })

	// What the topic channel sends is published.
	if err := chat.SendText("hello from pion"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "published from the channel", func() bool { return controlBox.has("hello from pion") })

	// A publish over the control channel is acknowledged.
	if err := control.SendText(`{"op":"pub","id":"2","topic":"rtc/other","payload":"via json"}`); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "ack", func() bool { return controlBox.has(`"ack"`) && controlBox.has("via json") })

	// DELETE ends the session.
	if !strings.HasPrefix(peer.location, "/v1/webrtc/") {
		t.Fatalf("Location %q", peer.location)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.URL+peer.location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	testkit.Eventually(t, 5*time.Second, "session reclaimed", func() bool { return s.WebRTC().Sessions() == 0 })
}

// A stalled reader on an unreliable channel loses the oldest messages,
// counted, and stalls no publisher.
func TestWebRTCUnreliableStalledReader(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.Queue.Messages = 64 })
	pc := newRTCPeerConnection(t)
	zero := uint16(0)
	ordered := false
	dc, err := pc.CreateDataChannel("rtc/flood", &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero})
	if err != nil {
		t.Fatal(err)
	}
	stall := make(chan struct{})
	defer close(stall)
	var opened atomic.Bool
	dc.OnOpen(func() { opened.Store(true) })
	dc.OnMessage(func(webrtc.DataChannelMessage) { <-stall }) // never reads on
	dialRTC(t, s, pc)
	testkit.Eventually(t, 10*time.Second, "channel open", opened.Load)
	s.WaitSubscribers(t, "rtc/flood", 1)

	payload := bytes.Repeat([]byte("x"), 8<<10)
	start := time.Now()
	for range 2000 { // 16 MB: past SCTP's window, its buffer and the queue
		httpPublish(t, s.URL, "rtc/flood", payload, "")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("publishing took %v: the stalled peer held publishers back", took)
	}
	testkit.Eventually(t, 10*time.Second, "drops counted", func() bool {
		return counter(t, s, `streamhub_messages_dropped_total{transport="webrtc"}`) > 0
	})
	if n := s.WebRTC().Sessions(); n != 1 {
		t.Fatalf("%d sessions: an unreliable channel's slow peer is not disconnected", n)
	}
}

func TestWebRTCRefusals(t *testing.T) {
	t.Run("bad sdp", func(t *testing.T) {
		s := testkit.Start(t, nil)
		for _, tc := range []struct {
			body, contentType string
			status            int
		}{
			{"v=0\r\nnot really sdp\r\n", "application/sdp", http.StatusBadRequest},
			{"hello", "application/sdp", http.StatusBadRequest},
			{"v=0\r\n", "text/plain", http.StatusUnsupportedMediaType},
		} {
			resp, err := http.Post(s.URL+"/v1/webrtc", tc.contentType, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			assertJSONError(t, resp, tc.status)
		}
		if n := s.WebRTC().Sessions(); n != 0 {
			t.Fatalf("%d sessions left by refused offers", n)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		s := securedServer(t)
		resp := postOffer(t, s, channelPeer(t), nil)
		assertJSONError(t, resp, http.StatusUnauthorized)
	})
	t.Run("origin not allowed", func(t *testing.T) {
		s := testkit.Start(t, func(c *config.Config) { c.CORS.Origins = []string{"https://app.example"} })
		resp := postOffer(t, s, channelPeer(t), http.Header{"Origin": {"https://evil.example"}})
		assertJSONError(t, resp, http.StatusForbidden)
	})
}

// The policy applies per channel: a topic the identity may not use gets
// its channel closed, others on the same peer connection work.
func TestWebRTCPolicy(t *testing.T) {
	s := securedServer(t)
	pc := newRTCPeerConnection(t)
	denied, _, _ := openedChannel(t, pc, "users/bob/inbox", nil)
	var deniedClosed atomic.Bool
	denied.OnClose(func() { deniedClosed.Store(true) })
	_, box, open := openedChannel(t, pc, "users/alice/inbox", nil)
	resp := postOffer(t, s, pc, http.Header{"Authorization": {basic("alice", "alice-pw")}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	testkit.Eventually(t, 10*time.Second, "allowed channel open", open.Load)
	testkit.Eventually(t, 10*time.Second, "forbidden channel closed", deniedClosed.Load)
	s.WaitSubscribers(t, "users/alice/inbox", 1)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/publish/users/alice/inbox", strings.NewReader("for alice"))
	req.Header.Set("Authorization", basic("alice", "alice-pw"))
	pub, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pub.Body.Close()
	testkit.Eventually(t, 5*time.Second, "delivery", func() bool { return box.has("for alice") })
}

func channelPeer(t *testing.T) *webrtc.PeerConnection {
	pc := newRTCPeerConnection(t)
	if _, err := pc.CreateDataChannel("streamhub", nil); err != nil {
		t.Fatal(err)
	}
	return pc
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func assertJSONError(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error any `json:"error"`
	}
	if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || e.Error == nil {
		t.Fatalf("got %s %s, want %d with a JSON error", resp.Status, body, status)
	}
}

// Each channel is listed by the admin API; kicking one closes the peer
// connection.
func TestWebRTCAdminKick(t *testing.T) {
	s := testkit.Start(t, nil)
	pc := newRTCPeerConnection(t)
	_, _, open := openedChannel(t, pc, "rtc/kick", nil)
	var state atomic.Value
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { state.Store(st) })
	dialRTC(t, s, pc)
	testkit.Eventually(t, 10*time.Second, "channel open", open.Load)
	listed := waitClient(t, s, "webrtc", "rtc/kick")
	kick(t, s, listed.ID)
	testkit.Eventually(t, 10*time.Second, "session closed", func() bool { return s.WebRTC().Sessions() == 0 })
	testkit.Eventually(t, 10*time.Second, "the client sees its peer connection end", func() bool {
		st, _ := state.Load().(webrtc.PeerConnectionState)
		return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed ||
			st == webrtc.PeerConnectionStateDisconnected
	})
	if clientListed(t, s, listed.ID) {
		t.Error("kicked channel still listed")
	}
}

// WHEP refuses, with a JSON error, a path nobody publishes (404), a reader
// without the right (403) and a path with no codec WebRTC carries (415,
// naming it); WHIP a publisher without the right (403).
func TestWHEPRefusals(t *testing.T) {
	requireFFmpeg(t)
	s := mediaServer(t, nil)
	publishFFmpeg(t, "flv", "rtmp://"+s.RTMP().Addr()+"/live/radio", "-vn") // AAC only
	waitOnline(t, s, "live/radio")
	whep := func(path string) *http.Response {
		pc := newRTCPeerConnection(t)
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo,
			webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		offer, _ := pc.CreateOffer(nil)
		resp, err := http.Post(s.URL+"/v1/whep/"+path, "application/sdp", strings.NewReader(offer.SDP))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	assertJSONError(t, whep("live/nobody"), http.StatusNotFound)
	resp := whep("live/radio")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), "aac") {
		t.Errorf("AAC-only path: %s %s, want 415 naming aac", resp.Status, body)
	}
	if n := s.WebRTC().Sessions(); n != 0 {
		t.Errorf("%d sessions left by refusals", n)
	}

	secured := securedServer(t) // alice may neither read nor publish media/live/cam1
	for _, endpoint := range []string{"/v1/whep/", "/v1/whip/"} {
		req, _ := http.NewRequest(http.MethodPost, secured.URL+endpoint+"live/cam1", strings.NewReader("v=0\r\n"))
		req.Header.Set("Content-Type", "application/sdp")
		req.Header.Set("Authorization", basic("alice", "alice-pw"))
		forbidden, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		assertJSONError(t, forbidden, http.StatusForbidden)
	}
}

// TestWHIPToRTSP: a pion publisher sends H.264 over WHIP; the path comes
// online and ffprobe reads it back over RTSP at the published size.
func TestWHIPToRTSP(t *testing.T) {
	requireFFmpeg(t)
	s := mediaServer(t, nil)
	file := filepath.Join(t.TempDir(), "in.h264")
	gen := exec.CommandContext(t.Context(), "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=640x360:rate=30", "-t", "2", "-c:v", "libx264", "-preset", "ultrafast",
		"-profile:v", "baseline", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p", "-f", "h264", file)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	pc := newRTCPeerConnection(t)
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264}, "video", "whip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		t.Fatal(err)
	}
	if resp := postOfferTo(t, s.URL+"/v1/whip/live/whip1", pc, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /v1/whip: %s", resp.Status)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sendH264Loop(t, track, file, done) }()
	defer func() { close(done); wg.Wait() }()

	waitOnline(t, s, "live/whip1")
	if c := findClient(t, s, "whip", "publisher"); c.Path != "live/whip1" {
		t.Errorf("WHIP publisher listed as %+v", c)
	}
	streams := probe(t, "rtsp://"+s.RTSP().Addr()+"/live/whip1", "-rtsp_transport", "tcp")
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width != 640 || streams[0].Height != 360 {
		t.Fatalf("ffprobe over RTSP: %+v, want h264 640x360", streams)
	}
}

// sendH264Loop sends the Annex B file's access units at 30 per second,
// from the start again at its end, until done.
func sendH264Loop(t *testing.T, track *webrtc.TrackLocalStaticSample, file string, done <-chan struct{}) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Error(err)
		return
	}
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for {
		r, _ := h264reader.NewReader(bytes.NewReader(data))
		var au []byte
		for {
			nal, err := r.NextNAL()
			if err != nil {
				break
			}
			au = append(append(au, 0, 0, 0, 1), nal.Data...)
			if nal.UnitType != h264reader.NalUnitTypeCodedSliceIdr && nal.UnitType != h264reader.NalUnitTypeCodedSliceNonIdr {
				continue // parameter sets and SEI go with the next slice
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if err := track.WriteSample(media.Sample{Data: au, Duration: time.Second / 30}); err != nil {
				return
			}
			au = nil
		}
	}
}

// Each session holds a connection slot of its client's address for its
// life (beside the HTTP connection that posted the offer): past
// limits.peraddress the offer gets 429 JSON; a session ended frees its slot.
func TestWebRTCConnectionLimit(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Peraddress = 2 })
	first := dialRTC(t, s, channelPeer(t))
	assertJSONError(t, postOffer(t, s, channelPeer(t), nil), http.StatusTooManyRequests)
	req, _ := http.NewRequest(http.MethodDelete, s.URL+first.location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testkit.Eventually(t, 5*time.Second, "session reclaimed", func() bool { return s.WebRTC().Sessions() == 0 })
	dialRTC(t, s, channelPeer(t))
}

// TestWHEPEndsWithThePath: a pion WHEP reader gets H.264 RTP while ffmpeg
// publishes over RTMP; when the publisher stops, the session ends.
func TestWHEPEndsWithThePath(t *testing.T) {
	requireFFmpeg(t)
	s := mediaServer(t, nil)
	stop := publishFFmpeg(t, "flv", "rtmp://"+s.RTMP().Addr()+"/live/ending")
	waitOnline(t, s, "live/ending")
	packets, codec := playWHEPVideo(t, s, "live/ending")
	testkit.Eventually(t, 10*time.Second, "H.264 packets", func() bool { return packets.Load() > 30 })
	if c, _ := codec.Load().(string); c != webrtc.MimeTypeH264 {
		t.Errorf("codec %q", c)
	}
	if c := findClient(t, s, "whep", "reader"); c.Path != "live/ending" {
		t.Errorf("WHEP reader listed as %+v", c)
	}
	stop()
	testkit.Eventually(t, 10*time.Second, "the session ended with the path", func() bool { return s.WebRTC().Sessions() == 0 })
	testkit.Eventually(t, 10*time.Second, "the WHEP reader to leave the list", func() bool { return listed(t, s, "whep", "reader") == 0 })
}
