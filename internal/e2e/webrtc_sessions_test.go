package e2e

import (
	"net"
	"net/http"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// One address posting real offers gets 429 past webrtc.peraddress (WHIP
// too), a second address 503 once webrtc.sessions are all taken, and a
// session ended with DELETE makes room again.
func TestWebRTCSessionLimits(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.WebRTC.Sessions, c.WebRTC.Peraddress = 4, 3 })
	url := s.URL + "/v1/webrtc"
	first, second := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")

	var locations []string
	for range 3 {
		resp := postOfferWith(t, first, url, channelPeer(t), nil)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("session %d: %s", len(locations)+1, resp.Status)
		}
		locations = append(locations, resp.Header.Get("Location"))
	}
	assertJSONError(t, postOfferWith(t, first, url, channelPeer(t), nil), http.StatusTooManyRequests)
	// WHIP's peer connections count alike.
	assertJSONError(t, postOfferWith(t, first, s.URL+"/v1/whip/live/bounded", channelPeer(t), nil), http.StatusTooManyRequests)
	if resp := postOfferWith(t, second, url, channelPeer(t), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another address's first session: %s", resp.Status)
	}
	assertJSONError(t, postOfferWith(t, second, url, channelPeer(t), nil), http.StatusServiceUnavailable)
	if n := s.WebRTC().Sessions(); n != 4 {
		t.Fatalf("%d sessions live, want 4", n)
	}

	req, _ := http.NewRequest(http.MethodDelete, s.URL+locations[0], nil)
	resp, err := first.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	testkit.Eventually(t, 10*time.Second, "the session released", func() bool { return s.WebRTC().Sessions() == 3 })
	if resp := postOfferWith(t, first, url, channelPeer(t), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after DELETE: %s", resp.Status)
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip, standing for a client address of its own.
func clientFrom(t *testing.T, ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	transport := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}
}
