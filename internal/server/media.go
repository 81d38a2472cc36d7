package server

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/hls"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/rtmp"
	"streamhub/internal/transport/rtsp"
)

// newMedia builds the media registry and its transports: RTMP and RTSP on
// listeners of their own (started with the other listeners), each with a
// TLS twin (RTMPS, RTSPS) when its tlsaddr is set, HLS on the HTTP one.
func (s *Server) newMedia() error {
	cfg := s.cfg
	spread, attach, err := s.clusterMedia()
	if err != nil {
		return err
	}
	recordings := s.newRecorder()
	s.media = media.New(media.Config{QueueFrames: cfg.Media.Queue, QueueBytes: cfg.Media.Queuebytes,
		Takeover: cfg.Media.Takeover, StateInterval: cfg.Media.State, Cluster: spread, Recorded: s.recordedState()},
		s.hub, s.metrics, s.log.With("component", "media"))
	attach(s.media)
	s.parts.running("media", s.closeMedia)
	rtmpConfig := func(transport, addr string, tc *tls.Config) rtmp.Config {
		return rtmp.Config{ListenerConfig: media.ListenerConfig{Addr: addr, Timeout: cfg.RTMP.Timeout,
			Policy: s.policy, Admit: s.mediaAdmission(transport, tc), Registry: s.registry, TLS: tc},
			MaxMessage: cfg.RTMP.Maxmessage, Partial: s.partial}
	}
	rtspConfig := func(transport, addr string, tc *tls.Config) rtsp.Config {
		return rtsp.Config{Addr: addr, Timeout: cfg.RTSP.Timeout, Policy: s.policy,
			Admit: s.mediaAdmission(transport, tc), Registry: s.registry, TLS: tc}
	}
	s.rtmp = rtmp.New(rtmpConfig("rtmp", cfg.RTMP.Addr, nil), s.media, s.log)
	s.rtsp = rtsp.New(rtspConfig("rtsp", cfg.RTSP.Addr, nil), s.media, s.log)
	rtmpTLS, err := s.mediaTLS(cfg.RTMP.Tlsaddr, cfg.RTMP.Cert, cfg.RTMP.Key)
	if err != nil {
		return fmt.Errorf("server: rtmps: %w", err)
	}
	s.rtmps = rtmp.New(rtmpConfig("rtmps", cfg.RTMP.Tlsaddr, rtmpTLS), s.media, s.log)
	rtspTLS, err := s.mediaTLS(cfg.RTSP.Tlsaddr, cfg.RTSP.Cert, cfg.RTSP.Key)
	if err != nil {
		return fmt.Errorf("server: rtsps: %w", err)
	}
	s.rtsps = rtsp.New(rtspConfig("rtsps", cfg.RTSP.Tlsaddr, rtspTLS), s.media, s.log)
	s.hls, err = hls.New(hls.Config{Variant: cfg.HLS.Variant, SegmentCount: cfg.HLS.Segments,
		SegmentDuration: cfg.HLS.Segmentduration, PartDuration: cfg.HLS.Partduration, Idle: cfg.HLS.Idle,
		Policy: s.policy, Identify: s.credentials, Registry: s.registry, Recordings: recordings}, s.media, s.log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// mediaTLS is the TLS configuration of a media TLS listener on addr (nil
// when addr is empty): the listener's certificate or the HTTP one,
// reloaded as every TLS listener's, and auth.clientca's client
// certificates.
func (s *Server) mediaTLS(addr, cert, key string) (*tls.Config, error) {
	if addr == "" {
		return nil, nil
	}
	cert, key = s.cfg.MediaCert(cert, key)
	return tlsconf.Config(cert, key, s.cfg.Auth.Clientca, s.log)
}

// mediaRoutes mounts HLS and the list of media paths.
func (s *Server) mediaRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+hls.Prefix, s.tracked(s.hls))
	mux.HandleFunc("GET /v1/media", s.listMedia)
}

// listMedia answers GET /v1/media: the online paths the caller may read.
func (s *Server) listMedia(w http.ResponseWriter, r *http.Request) {
	states := s.media.List()
	if !s.policy.Open() {
		id := auth.FromContext(r.Context())
		visible := states[:0]
		for _, st := range states {
			if s.policy.CanRead(id, media.Topic(st.Path)) {
				visible = append(visible, st)
			}
		}
		states = visible
	}
	httpx.WriteJSON(w, map[string]any{"paths": states, "recorded": s.recorded(r)})
}

// RTMP returns the RTMP server, for its bound address.
func (s *Server) RTMP() *rtmp.Server { return s.rtmp }

// RTSP returns the RTSP server, for its bound address.
func (s *Server) RTSP() *rtsp.Server { return s.rtsp }

// RTMPS returns the RTMPS server, for its bound address ("" when off).
func (s *Server) RTMPS() *rtmp.Server { return s.rtmps }

// RTSPS returns the RTSPS server, for its bound address ("" when off).
func (s *Server) RTSPS() *rtsp.Server { return s.rtsps }

// Media returns the media path registry.
func (s *Server) Media() *media.Registry { return s.media }

// closeMedia closes HLS's muxers and the media paths, once RTMP, RTSP and
// WebRTC, which use them, are closed.
func (s *Server) closeMedia() {
	if s.hls != nil { // nil when New failed building it
		s.hls.Close()
	}
	s.media.Close()
}
