package hls

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"streamhub/internal/auth"
	"streamhub/internal/media"
	"streamhub/internal/transport/kit/httpx"
)

// muxer turns one path's frames into HLS playlists and segments.
type muxer struct {
	server   *Server
	reader   *media.Reader
	hls      *gohlslib.Muxer
	tracks   []*gohlslib.Track // by media track index; nil: not carried
	cancel   context.CancelFunc
	done     chan struct{}
	lastSeen atomic.Int64 // unix nanoseconds of the last request
	viewers  viewers
	// ready is closed once the playlist holds readySegments segments.
	ready chan struct{}
}

// readySegments is how many segments a playlist holds before it is first
// answered. A player starts three target durations from a live
// playlist's end (RFC 8216, 6.3.3): Chromium's own player, given one or
// two segments, plays them, finds no new one and fails for good
// ("DEMUXER_ERROR_COULD_NOT_PARSE"), and hls.js retries.
const readySegments = 3

// readyWait bounds how long a playlist request waits for readySegments;
// then it is answered with what there is.
const readyWait = 30 * time.Second

func startMuxer(s *Server, rd *media.Reader) (*muxer, error) {
	m := &muxer{server: s, reader: rd, done: make(chan struct{}), ready: make(chan struct{}),
		viewers: viewers{all: map[viewerKey]*viewer{}}}
	m.tracks = make([]*gohlslib.Track, len(rd.Tracks()))
	var all []*gohlslib.Track
	for i, t := range rd.Tracks() {
		if m.tracks[i] = trackToHLS(t, s.variant); m.tracks[i] != nil {
			all = append(all, m.tracks[i])
		}
	}
	m.hls = &gohlslib.Muxer{
		Tracks:             all,
		Variant:            s.variant,
		SegmentCount:       s.cfg.SegmentCount,
		SegmentMinDuration: s.cfg.SegmentDuration,
		PartMinDuration:    s.cfg.PartDuration,
		OnEncodeError: func(err error) {
			s.log.Warn("muxing", "path", rd.Path(), "err", err)
		},
	}
	if len(all) == 0 {
		return nil, errNoTracks
	}
	if err := m.hls.Start(); err != nil {
		return nil, err
	}
	m.lastSeen.Store(time.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	go m.watchIdle(ctx)
	go m.watchReady(ctx, min(readySegments, max(1, s.cfg.SegmentCount)))
	return m, nil
}

// trackToHLS converts a media track into what variant can carry, or nil.
// MPEG-TS takes H.264 and AAC only; fMP4 also H.265 and Opus.
func trackToHLS(t media.Track, variant gohlslib.MuxerVariant) *gohlslib.Track {
	fmp4 := variant != gohlslib.MuxerVariantMPEGTS
	switch {
	case t.Codec == media.H264:
		return &gohlslib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}, ClockRate: t.ClockRate}
	case t.Codec == media.AAC && t.AAC != nil:
		return &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: *t.AAC}, ClockRate: t.ClockRate}
	case t.Codec == media.H265 && fmp4:
		return &gohlslib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}, ClockRate: t.ClockRate}
	case t.Codec == media.Opus && fmp4:
		return &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: t.Channels}, ClockRate: t.ClockRate}
	}
	return nil
}

func (m *muxer) run(ctx context.Context) {
	defer close(m.done)
	defer m.server.forget(m.reader.Path(), m)
	defer m.hls.Close()
	defer m.reader.Close()
	defer m.expire(0, true)
	for {
		f, err := m.reader.Next(ctx)
		if err != nil {
			return
		}
		if t := m.tracks[f.Track]; t != nil {
			if err := m.write(t, f); err != nil {
				m.server.log.Warn("muxing", "path", m.reader.Path(), "err", err)
			}
		}
	}
}

func (m *muxer) write(t *gohlslib.Track, f media.Frame) error {
	switch t.Codec.(type) {
	case *codecs.H264:
		return m.hls.WriteH264(t, f.NTP, f.PTS, f.Units)
	case *codecs.H265:
		return m.hls.WriteH265(t, f.NTP, f.PTS, f.Units)
	case *codecs.MPEG4Audio:
		return m.hls.WriteMPEG4Audio(t, f.NTP, f.PTS, f.Units)
	case *codecs.Opus:
		return m.hls.WriteOpus(t, f.NTP, f.PTS, f.Units)
	}
	return nil
}

// watchIdle stops the muxer when nobody has requested it for Idle, and
// drops the readers that have not.
func (m *muxer) watchIdle(ctx context.Context) {
	idle := m.server.cfg.Idle
	t := time.NewTicker(idle / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.expire(idle, false)
			if time.Since(time.Unix(0, m.lastSeen.Load())) > idle {
				m.cancel()
				return
			}
		}
	}
}

// watchReady closes ready once the first media playlist lists want
// segments, reading it as a player would.
func (m *muxer) watchReady(ctx context.Context, want int) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		// gohlslib answers a playlist once it has content, or (closed) 500.
		if media := firstURI(m.fetch("index.m3u8")); media != "" && strings.Count(m.fetch(media), "#EXTINF:") >= want {
			close(m.ready)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fetch is the muxer's answer to a GET of file, "" unless 200.
func (m *muxer) fetch(file string) string {
	rec := &recorder{header: http.Header{}, code: http.StatusOK}
	m.hls.Handle(rec, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/" + file}, Header: http.Header{}})
	if rec.code != http.StatusOK {
		return ""
	}
	return rec.body.String()
}

// firstURI is the first URI a playlist lists: a multivariant playlist's
// first variant.
func firstURI(playlist string) string {
	for line := range strings.Lines(playlist) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return ""
}

// recorder keeps a response in memory.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }

func (m *muxer) stop() {
	m.cancel()
	<-m.done
}

// serve answers a playlist or segment request of the reader id (nil:
// anonymous under an open policy); gohlslib writes nothing for names it
// does not know, which becomes a 404.
func (m *muxer) serve(w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	if !m.visit(r, id) {
		httpx.WriteError(w, http.StatusForbidden, "kicked", "disconnected by an administrator; try again later")
		return
	}
	m.lastSeen.Store(time.Now().UnixNano())
	if strings.HasSuffix(r.URL.Path, ".m3u8") && !m.waitReady(r.Context()) {
		return // the client went away
	}
	rec := &writeTracker{ResponseWriter: w}
	m.hls.Handle(rec, r)
	if !rec.wrote {
		httpx.WriteError(w, http.StatusNotFound, "not_found", "no such HLS file (segments expire as the stream moves on)")
	}
}

// waitReady waits, at most readyWait, until the playlist is worth
// answering; false if ctx ended first.
func (m *muxer) waitReady(ctx context.Context) bool {
	t := time.NewTimer(readyWait)
	defer t.Stop()
	for {
		select {
		case <-m.ready:
			return true
		case <-m.done: // the path ended: gohlslib answers that
			return true
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-time.After(m.server.cfg.Idle / 4):
			// A player waiting here is a request: the muxer is not idle.
			m.lastSeen.Store(time.Now().UnixNano())
		}
	}
}

type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeTracker) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *writeTracker) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}
