// Package hls serves media paths as HLS on the HTTP listener:
// /hls/<path>/index.m3u8 for players and /hls/<path>/ for a page whose
// <video src="index.m3u8"> plays where browsers speak HLS natively. Each
// path gets one gohlslib muxer, started by its first request and stopped
// when the path ends or nobody has asked for it for a while.
// /hls/<path>/index.m3u8?start= plays the path's recording instead
// (recording.go).
package hls

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/registry"
	"streamhub/internal/transport/kit/httpx"
)

// Paths is what HLS needs from the media registry.
type Paths interface {
	ReadShared(name, protocol string) (*media.Reader, error)
}

var _ Paths = (*media.Registry)(nil)

// Config configures HLS.
type Config struct {
	// Variant is "mpegts" (the widest player support), "fmp4" or
	// "lowlatency" (LL-HLS, fMP4 parts).
	Variant         string
	SegmentCount    int
	SegmentDuration time.Duration // minimum; segments end at keyframes
	PartDuration    time.Duration // LL-HLS parts
	// Idle stops a path's muxer when no request came for this long.
	Idle   time.Duration
	Policy *auth.Policy
	// Identify authenticates a request with the HTTP listener's rules
	// (bearer token, basic, cookie, ?token=).
	Identify func(r *http.Request) (*auth.Identity, error)
	// Registry lists each reader (see viewers.go) for the admin API.
	Registry *registry.Registry
	// Recordings plays recordings (recording.go); nil when nothing is
	// recorded.
	Recordings Recordings
}

// Prefix is where HLS is mounted on the HTTP listener.
const Prefix = "/hls/"

// Server is the HLS handler.
type Server struct {
	cfg     Config
	variant gohlslib.MuxerVariant
	paths   Paths
	log     *slog.Logger

	mu     sync.Mutex
	muxers map[string]*muxer
	closed bool
}

// ParseVariant maps a variant name onto gohlslib's.
func ParseVariant(name string) (gohlslib.MuxerVariant, error) {
	switch name {
	case "mpegts", "":
		return gohlslib.MuxerVariantMPEGTS, nil
	case "fmp4":
		return gohlslib.MuxerVariantFMP4, nil
	case "lowlatency":
		return gohlslib.MuxerVariantLowLatency, nil
	}
	return 0, fmt.Errorf("hls variant %q: want mpegts, fmp4 or lowlatency", name)
}

// New builds the HLS handler.
func New(cfg Config, paths Paths, log *slog.Logger) (*Server, error) {
	v, err := ParseVariant(cfg.Variant)
	if err != nil {
		return nil, err
	}
	if cfg.Idle <= 0 {
		cfg.Idle = time.Minute
	}
	return &Server{cfg: cfg, variant: v, paths: paths, log: log.With("transport", "hls"), muxers: map[string]*muxer{}}, nil
}

// ServeHTTP answers /hls/<path>/ (the page) and /hls/<path>/<file>.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	name, file := rest, ""
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		name, file = rest[:i], rest[i+1:]
	}
	if file != "" && !isHLSFile(file) && media.ValidatePath(rest) == nil {
		// /hls/live/cam1 is the path live/cam1 without the page's slash,
		// not the file cam1 of the path live.
		target := r.URL.Path + "/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return
	}
	if err := media.ValidatePath(name); err != nil || (file != "" && strings.ContainsRune(file, '/')) {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such HLS path: want /hls/PATH/ or /hls/PATH/index.m3u8")
		return
	}
	id, ok := s.authorize(w, r, name)
	if !ok {
		return
	}
	if file == "" {
		servePage(w, r)
		return
	}
	if isRecordingRequest(file, r.URL.Query()) {
		s.serveRecording(w, r, name, file)
		return
	}
	m, err := s.muxer(name)
	if err != nil {
		status, code := http.StatusNotFound, "not_found"
		if !errors.Is(err, media.ErrNotFound) {
			status, code = http.StatusServiceUnavailable, "unavailable"
		}
		httpx.WriteError(w, status, code, err.Error())
		return
	}
	m.serve(w, r, id)
}

// isHLSFile tells the names gohlslib serves (index.m3u8, main_stream.m3u8,
// segments, parts and init files) from a path's last level.
func isHLSFile(name string) bool {
	for _, ext := range []string{".m3u8", ".ts", ".mp4", ".m4s"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// authorize answers 401 or 403 (JSON, like every HTTP refusal) unless the
// request may subscribe to media/<path>; it returns the request's
// identity (nil when the policy is open).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, name string) (*auth.Identity, bool) {
	if s.cfg.Policy.Open() {
		return nil, true
	}
	id, err := s.cfg.Identify(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
		httpx.WriteError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return nil, false
	}
	if !s.cfg.Policy.CanRead(id, media.Topic(name)) {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "not allowed to read "+media.Topic(name))
		return nil, false
	}
	return id, true
}

// muxer returns the path's muxer, starting it on first use.
func (s *Server) muxer(name string) (*muxer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("hls: closed")
	}
	if m := s.muxers[name]; m != nil {
		return m, nil
	}
	rd, err := s.paths.ReadShared(name, "hls")
	if err != nil {
		return nil, err
	}
	m, err := startMuxer(s, rd)
	if err != nil {
		rd.Close()
		return nil, err
	}
	s.muxers[name] = m
	return m, nil
}

func (s *Server) forget(name string, m *muxer) {
	s.mu.Lock()
	if s.muxers[name] == m {
		delete(s.muxers, name)
	}
	s.mu.Unlock()
}

// Close stops every muxer.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	muxers := s.muxers
	s.muxers = map[string]*muxer{}
	s.mu.Unlock()
	for _, m := range muxers {
		m.stop()
	}
}
