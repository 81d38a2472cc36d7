package server

import (
	"net/http"

	"streamhub/internal/limit"
	"streamhub/internal/transport/kit/acceptloop"
	"streamhub/internal/transport/webrtc"
)

// newWebRTC builds the WebRTC transport; Start binds its ICE sockets.
func (s *Server) newWebRTC() {
	cfg := s.cfg
	s.webrtc = webrtc.New(s.hub, webrtc.Config{UDP: cfg.WebRTC.UDP, TCP: cfg.WebRTC.TCP,
		PublicIPs: cfg.WebRTC.Publicips, ICEServers: cfg.WebRTC.Iceservers, Queue: cfg.QueueLimits(cfg.WebRTC.Policy),
		Policy: s.policy, Registry: s.registry, Paths: s.media, Admission: s.admission("webrtc"),
		EncodeCheck: s.encodeCheck,
		Sessions: acceptloop.Admission{Transport: "webrtc-sessions", Conns: limit.NewConns(cfg.WebRTC.Sessions, cfg.WebRTC.Peraddress),
			Log: s.remote}},
		s.log, s.metrics.Transport("webrtc"))
}

// webrtcRoutes mounts the session endpoints. A session outlives its
// request, so they are not tracked as long-lived requests.
func (s *Server) webrtcRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+webrtc.Prefix, s.webrtc.ServeOffer)
	mux.HandleFunc("DELETE "+webrtc.Prefix+"/{id}", s.webrtc.ServeDelete)
	mux.HandleFunc("POST "+webrtc.WHEPPrefix+"{path...}", s.webrtc.ServeWHEP)
	mux.HandleFunc("POST "+webrtc.WHIPPrefix+"{path...}", s.webrtc.ServeWHIP)
}

// WebRTC returns the WebRTC transport, for its bound addresses.
func (s *Server) WebRTC() *webrtc.Server { return s.webrtc }
