package config

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"streamhub/internal/core/hub"
)

// WebRTC configures data channels on POST /v1/webrtc (docs/PROTOCOLS.md).
type WebRTC struct {
	// UDP is the one UDP address every peer's ICE uses; empty disables UDP.
	UDP string `koanf:"udp"`
	// TCP is the ICE-TCP address, a fallback where UDP is blocked; empty disables.
	TCP string `koanf:"tcp"`
	// Publicips are announced instead of the local address behind a 1:1 NAT.
	Publicips []string `koanf:"publicips"`
	// Iceservers (stun:/turn: URLs) are handed to clients in Link headers.
	Iceservers []string `koanf:"iceservers"`
	// Policy is the overflow policy of a reliable channel's full queue;
	// unreliable channels always drop the oldest.
	Policy string `koanf:"policy"`
	// Sessions bounds the peer connections of POST /v1/webrtc, WHIP and
	// WHEP together (503 past it), Peraddress those of one client address
	// (429). Each holds goroutines and buffers until it closes, or for 30 s
	// when the peer never connects. 0: no bound.
	Sessions   int `koanf:"sessions"`
	Peraddress int `koanf:"peraddress"`
}

func defaultWebRTC() WebRTC {
	return WebRTC{UDP: "127.0.0.1:8189", Policy: "disconnect", Sessions: 500, Peraddress: 50}
}

func (c Config) validateWebRTC() []error {
	var errs []error
	for key, addr := range map[string]string{"webrtc.udp": c.WebRTC.UDP, "webrtc.tcp": c.WebRTC.TCP} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	for _, ip := range c.WebRTC.Publicips {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("webrtc.publicips: %q is not an IP address", ip))
		}
	}
	for _, u := range c.WebRTC.Iceservers {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") &&
			!strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			errs = append(errs, fmt.Errorf("webrtc.iceservers: %q is not a stun: or turn: URL", u))
		}
	}
	if c.WebRTC.Sessions < 0 || c.WebRTC.Peraddress < 0 {
		errs = append(errs, errors.New("webrtc.sessions and webrtc.peraddress may not be negative"))
	}
	if _, err := hub.ParseOverflow(c.WebRTC.Policy); err != nil {
		errs = append(errs, fmt.Errorf("webrtc.policy: %w", err))
	}
	if strings.ContainsAny(strings.Join(c.WebRTC.Iceservers, ""), "<>\r\n") {
		errs = append(errs, errors.New("webrtc.iceservers: URLs may not contain <, > or line breaks"))
	}
	return errs
}
