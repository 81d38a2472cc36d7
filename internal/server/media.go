package server

import (
	"fmt"
	"net/http"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/transport/hls"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/rtmp"
	"streamhub/internal/transport/rtsp"
)

// newMedia builds the media registry and its transports: RTMP and RTSP on
// listeners of their own (started with the other listeners), HLS on the
// HTTP one.
func (s *Server) newMedia() error {
	cfg := s.cfg
	s.media = media.New(media.Config{QueueFrames: cfg.Media.Queue, QueueBytes: cfg.Media.Queuebytes,
		Takeover: cfg.Media.Takeover, StateInterval: cfg.Media.State}, s.hub, s.metrics, s.log.With("component", "media"))
	s.parts.running("media", s.closeMedia)
	s.rtmp = rtmp.New(rtmp.Config{ListenerConfig: media.ListenerConfig{Addr: cfg.RTMP.Addr, Timeout: cfg.RTMP.Timeout,
		Policy: s.policy, Admit: s.mediaAdmission("rtmp"), Registry: s.registry},
		MaxMessage: cfg.RTMP.Maxmessage, Partial: s.partial}, s.media, s.log)
	s.rtsp = rtsp.New(rtsp.Config{Addr: cfg.RTSP.Addr, Timeout: cfg.RTSP.Timeout, Policy: s.policy,
		Admit: s.mediaAdmission("rtsp"), Registry: s.registry}, s.media, s.log)
	var err error
	s.hls, err = hls.New(hls.Config{Variant: cfg.HLS.Variant, SegmentCount: cfg.HLS.Segments,
		SegmentDuration: cfg.HLS.Segmentduration, PartDuration: cfg.HLS.Partduration, Idle: cfg.HLS.Idle,
		Policy: s.policy, Identify: s.credentials, Registry: s.registry}, s.media, s.log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
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
