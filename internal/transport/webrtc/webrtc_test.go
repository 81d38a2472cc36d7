package webrtc

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"streamhub/internal/core/hub"
	"streamhub/internal/testkit/poll"
)

type nopMeter struct{}

func (nopMeter) Connected() func() { return func() {} }
func (nopMeter) Received(int)      {}
func (nopMeter) Sent(int)          {}

// startServer runs the transport on a real hub, its ICE timeouts short.
func startServer(t testing.TB, mutate func(*Config)) (*Server, *hub.Hub, string) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	h, err := hub.New(hub.Defaults(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{UDP: "127.0.0.1:0", Queue: hub.QueueLimits{Messages: 100, Bytes: 1 << 20},
		disconnectedAfter: 300 * time.Millisecond, failedAfter: 700 * time.Millisecond}
	if mutate != nil {
		mutate(&cfg)
	}
	s := New(h, cfg, log, nopMeter{})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Prefix, s.ServeOffer)
	mux.HandleFunc("DELETE "+Prefix+"/{id}", s.ServeDelete)
	web := httptest.NewServer(mux)
	t.Cleanup(func() { web.Close(); s.Close(); h.Close() })
	return s, h, web.URL
}

// vanishingConn is a client's UDP socket that can go silent both ways, as
// a peer does when its network drops or its process is killed.
type vanishingConn struct {
	net.PacketConn
	gone atomic.Bool
}

func (c *vanishingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c.gone.Load() {
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *vanishingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || !c.gone.Load() {
			return n, addr, err
		}
	}
}

// clientSettings is a pion client on loopback.
func clientSettings() webrtc.SettingEngine {
	se := webrtc.SettingEngine{}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	return se
}

// dial connects a pion client with channels labels, open.
func dial(t testing.TB, url string, se webrtc.SettingEngine, labels []string) (*webrtc.PeerConnection, []*webrtc.DataChannel) {
	t.Helper()
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	var open atomic.Int32
	var channels []*webrtc.DataChannel
	for _, l := range labels {
		dc, err := pc.CreateDataChannel(l, nil)
		if err != nil {
			t.Fatal(err)
		}
		dc.OnOpen(func() { open.Add(1) })
		channels = append(channels, dc)
	}
	answer, _ := postOffer(t, url, pc)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 10*time.Second, "channels open", func() bool { return int(open.Load()) == len(labels) })
	return pc, channels
}

// postOffer posts pc's offer, every candidate gathered, and returns the
// answer of a 201.
func postOffer(t testing.TB, url string, pc *webrtc.PeerConnection) (string, *http.Response) {
	t.Helper()
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := http.Post(url+Prefix, "application/sdp", strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s %s", resp.Status, answer)
	}
	return string(answer), resp
}

func openFDs(t testing.TB) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(fds)
}

// A peer with many channels that vanishes without a word is reclaimed
// after the ICE timeouts: its session, subscriptions, goroutines and file
// descriptors are gone.
func TestVanishedPeerReclaimed(t *testing.T) {
	s, h, url := startServer(t, nil)
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conn := &vanishingConn{PacketConn: udp}
	labels := []string{ControlLabel}
	for i := range 20 {
		labels = append(labels, "vanish/"+strconv.Itoa(i))
	}
	se := clientSettings()
	se.SetICEUDPMux(webrtc.NewICEUDPMux(nil, conn))
	pc, _ := dial(t, url, se, labels)
	poll.Eventually(t, 5*time.Second, "subscriptions", func() bool { return h.Stats().Subscriptions == len(labels) })

	conn.gone.Store(true)
	poll.Eventually(t, 10*time.Second, "the session reclaimed", func() bool { return s.Sessions() == 0 })
	poll.Eventually(t, 5*time.Second, "subscriptions closed", func() bool { return h.Stats().Subscriptions == 0 })

	// The client's own goroutines and socket go too, then everything is
	// back where it was.
	pc.Close()
	udp.Close()
	http.DefaultClient.CloseIdleConnections() // the POST's keep-alive connection is not the session's
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines || openFDs(t) > fds {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d (were %d), descriptors %d (were %d):\n%s", runtime.NumGoroutine(), goroutines,
				openFDs(t), fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Where UDP is blocked, ICE-TCP on webrtc.tcp carries the session.
func TestICETCP(t *testing.T) {
	_, h, url := startServer(t, func(c *Config) { c.UDP, c.TCP = "", "127.0.0.1:0" })
	se := clientSettings()
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	pc, _ := dial(t, url, se, []string{"tcp/topic"})
	defer pc.Close()
	poll.Eventually(t, 5*time.Second, "the channel's subscription", func() bool { return h.Stats().Subscriptions == 1 })
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
}

// Behind a 1:1 NAT the answer's candidates carry the public address, and
// the configured STUN/TURN servers come back as Link headers.
func TestAnswerPublicIPsAndICEServers(t *testing.T) {
	_, _, url := startServer(t, func(c *Config) {
		c.PublicIPs = []string{"203.0.113.7"}
		c.ICEServers = []string{"stun:stun.example.net:3478"}
	})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(clientSettings())).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.CreateDataChannel(ControlLabel, nil); err != nil {
		t.Fatal(err)
	}
	answer, resp := postOffer(t, url, pc)
	if !strings.Contains(answer, " 203.0.113.7 ") || strings.Contains(answer, " 127.0.0.1 ") {
		t.Errorf("answer's candidates do not announce only the public address:\n%s", answer)
	}
	if link := resp.Header.Get("Link"); link != `<stun:stun.example.net:3478>; rel="ice-server"` {
		t.Errorf("Link %q", link)
	}
}
