// Package webrtcpeer holds what the bench programs' pion peers share:
// loopback-friendly settings and the one-shot offer/answer exchange of
// POST /v1/webrtc, /v1/whep/<path> and /v1/whip/<path>.
package webrtcpeer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// New is a peer connection that finds the server on loopback (no mDNS,
// loopback candidates, UDP over IPv4), with pion's default codecs.
func New() (*webrtc.PeerConnection, error) {
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
}

// Negotiate posts pc's offer (every candidate gathered, no trickle) to
// endpoint and applies the answer.
func Negotiate(ctx context.Context, pc *webrtc.PeerConnection, endpoint string) error {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("offer to %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("offer to %s: %s: %s", endpoint, resp.Status, answer)
	}
	return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)})
}
