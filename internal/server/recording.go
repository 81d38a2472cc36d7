package server

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/media/record"
	"streamhub/internal/transport/hls"
	"streamhub/internal/transport/kit/httpx"
)

// newRecorder builds the recorder when media.record names paths
// (docs/MEDIA.md, Recording): segments under DATA/recordings. It plays
// over HLS too, so it is built before HLS and started after the media
// registry (newRecording).
func (s *Server) newRecorder() hls.Recordings {
	if len(s.cfg.Media.Record) == 0 {
		return nil
	}
	rules := make([]record.Rule, 0, len(s.cfg.Media.Record))
	for _, r := range s.cfg.Media.Record {
		rules = append(rules, record.Rule{Filter: r.Filter, Segment: r.Segment, Age: r.Age, Bytes: r.Bytes})
	}
	s.recorder = record.New(filepath.Join(s.cfg.Data, "recordings"), rules, s.log.With("component", "record"))
	return s.recorder
}

// recordedState is what a path's $media state says is recorded (nil
// without a recorder).
func (s *Server) recordedState() func(string) (media.Recorded, bool) {
	if s.recorder == nil {
		return nil
	}
	return func(path string) (media.Recorded, bool) {
		sum, ok := s.recorder.Summary(path)
		return media.Recorded{First: sum.First, Last: sum.Last, Bytes: sum.Bytes}, ok
	}
}

// newRecording starts the recorder newRecorder built, if any.
func (s *Server) newRecording() error {
	if s.recorder == nil {
		return nil
	}
	if err := s.recorder.Start(s.hub, s.media); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.parts.running("record", s.recorder.Close)
	return nil
}

// Recorder returns the recorder, nil unless media.record names paths.
func (s *Server) Recorder() *record.Recorder { return s.recorder }

// recordingRoutes mounts GET /v1/media/<path>/recordings (the recorded
// spans) and GET /v1/media/<path>/recording?start=&duration= (one fMP4 file).
func (s *Server) recordingRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/media/{rest...}", s.serveRecording)
}

func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request) {
	rest := r.PathValue("rest")
	path, what, _ := cutLast(rest)
	if what != "recordings" && what != "recording" || media.ValidatePath(path) != nil {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "want /v1/media/PATH/recordings or /v1/media/PATH/recording")
		return
	}
	if !s.policy.Open() && !s.policy.CanRead(auth.FromContext(r.Context()), media.Topic(path)) {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "not allowed to read "+media.Topic(path))
		return
	}
	if s.recorder == nil || !s.recorder.Records(path) {
		httpx.WriteError(w, http.StatusNotFound, "not_recorded", "media.record does not record "+path)
		return
	}
	if what == "recordings" {
		spans, err := s.recorder.Spans(path)
		if err != nil {
			httpx.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		if spans == nil {
			spans = []record.Span{}
		}
		httpx.WriteJSON(w, spans)
		return
	}
	start, d, err := record.ParseWindow(r.URL.Query().Get("start"), r.URL.Query().Get("duration"), true)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	play, err := s.recorder.Playback(path, start, d)
	if errors.Is(err, record.ErrNoRecording) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if err != nil {
		httpx.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	if err := play(w); err != nil {
		s.log.Warn("recording playback", "path", path, "err", err) // the status is sent: the file ends short
	}
}

// cutLast splits a/b/c into a/b and c.
func cutLast(s string) (before, after string, found bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// recorded is what GET /v1/media says is recorded: the paths with
// segments that the caller may read.
func (s *Server) recorded(r *http.Request) []record.Summary {
	if s.recorder == nil {
		return nil
	}
	all := s.recorder.Recorded()
	if s.policy.Open() {
		return all
	}
	id := auth.FromContext(r.Context())
	visible := all[:0]
	for _, sum := range all {
		if s.policy.CanRead(id, media.Topic(sum.Path)) {
			visible = append(visible, sum)
		}
	}
	return visible
}
