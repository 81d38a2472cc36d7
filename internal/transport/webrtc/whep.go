package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"streamhub/internal/auth"
	mediapath "streamhub/internal/media"
	"streamhub/internal/transport/kit/httpx"
)

// WHEPPrefix is where WHEP playback sessions are created: POST
// /v1/whep/<path> with an SDP offer; the session ends like a data channel
// session, with DELETE on its Location.
const WHEPPrefix = "/v1/whep/"

// Paths is what WHEP and WHIP need from the media registry.
type Paths interface {
	Read(name, protocol string) (*mediapath.Reader, error)
	Publish(name, protocol string, tracks []mediapath.Track) (*mediapath.Publisher, error)
}

// mimeTypes are the media codecs WebRTC carries, by media codec name; the
// others (AAC, H.265, MPEG audio) are left out of the answer.
var mimeTypes = map[string]string{
	mediapath.H264: webrtc.MimeTypeH264,
	mediapath.VP8:  webrtc.MimeTypeVP8,
	mediapath.VP9:  webrtc.MimeTypeVP9,
	mediapath.Opus: webrtc.MimeTypeOpus,
}

// ServeWHEP answers POST /v1/whep/{path...}: the offer in, 201 with the
// answer carrying the path's H.264, VP8, VP9 and Opus tracks out. A track WebRTC
// cannot carry is named in a Streamhub-Note header; a path with none it
// can carry is refused with 415.
func (s *Server) ServeWHEP(w http.ResponseWriter, r *http.Request) {
	if s.api == nil || s.cfg.Paths == nil {
		httpx.WriteError(w, http.StatusServiceUnavailable, "webrtc_disabled", "webrtc or media is off")
		return
	}
	name := r.PathValue("path")
	id := auth.FromContext(r.Context())
	if !s.cfg.Policy.CanRead(id, mediapath.Topic(name)) {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "not allowed to read "+mediapath.Topic(name))
		return
	}
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	rd, err := s.cfg.Paths.Read(name, "webrtc")
	if err != nil {
		status, code := http.StatusInternalServerError, "media_failed"
		if errors.Is(err, mediapath.ErrNotFound) || errors.Is(err, mediapath.ErrBadPath) {
			status, code = http.StatusNotFound, "not_found"
		}
		httpx.WriteError(w, status, code, err.Error())
		return
	}
	tracks, dropped := playableTracks(rd.Tracks())
	if len(tracks) == 0 {
		rd.Close()
		httpx.WriteError(w, http.StatusUnsupportedMediaType, "unsupported_codec",
			"WebRTC cannot carry the path's codecs: "+strings.Join(dropped, ", "))
		return
	}
	ss, ok := s.startSession(w, r, offer, func(ss *session) error { return ss.addMediaTracks(rd, tracks) })
	if !ok {
		rd.Close()
		return
	}
	if !ss.track() { // closed already: the peer cannot have answered yet, but shutdown may have come
		rd.Close()
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", errClosed.Error())
		return
	}
	ss.listMedia("whep", name, false)
	go func() {
		defer ss.wg.Done()
		defer rd.Close()
		if err := ss.play(rd, tracks); err != nil && ss.ctx.Err() == nil {
			s.log.Info("whep playback ended", "transport", "webrtc", "path", name, "err", err)
		}
		go ss.close()
	}()
	if len(dropped) > 0 {
		w.Header().Set("Streamhub-Note", "left out, WebRTC cannot carry them: "+strings.Join(dropped, ", "))
	}
	ss.writeAnswer(w)
}

// listMedia lists a WHEP or WHIP session for the admin API until it ends;
// a kick ends it.
func (ss *session) listMedia(transport, path string, publisher bool) {
	context.AfterFunc(ss.ctx, ss.srv.cfg.Registry.AddMedia(ss.identity, transport, ss.remote, path, publisher, ss.kick))
}

// playableTracks maps each of the path's tracks WebRTC can carry onto a
// local track (nil for the others, which are named in dropped).
func playableTracks(in []mediapath.Track) (map[int]*webrtc.TrackLocalStaticSample, []string) {
	tracks := map[int]*webrtc.TrackLocalStaticSample{}
	var dropped []string
	for i, t := range in {
		mime, ok := mimeTypes[t.Codec]
		if !ok {
			dropped = append(dropped, fmt.Sprintf("track %d (%s)", i, t.Codec))
			continue
		}
		kind := "audio"
		if t.Video() {
			kind = "video"
		}
		local, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, kind, "streamhub")
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("track %d (%s: %v)", i, t.Codec, err))
			continue
		}
		tracks[i] = local
	}
	return tracks, dropped
}

func (ss *session) addMediaTracks(rd *mediapath.Reader, tracks map[int]*webrtc.TrackLocalStaticSample) error {
	for _, t := range tracks {
		sender, err := ss.pc.AddTrack(t)
		if err != nil {
			return fmt.Errorf("adding a %s track: %w", t.Kind(), err)
		}
		// RTCP must be read for the interceptors (NACK, reports) to work.
		ss.wg.Add(1)
		go func() {
			defer ss.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	return nil
}

// play writes the reader's frames to their tracks until the session or
// the path ends. Each frame is one sample lasting until the track's next.
func (ss *session) play(rd *mediapath.Reader, tracks map[int]*webrtc.TrackLocalStaticSample) error {
	info := rd.Tracks()
	last := map[int]int64{}
	for {
		f, err := rd.Next(ss.ctx)
		if err != nil {
			return err
		}
		local := tracks[f.Track]
		if local == nil {
			continue
		}
		if err := writeFrame(local, info[f.Track], f, last); err != nil {
			return err
		}
	}
}

// writeFrame writes one frame as samples lasting until the track's next
// frame: a video access unit (H.264) or frame (VP8, VP9) as one sample,
// each Opus packet as one.
func writeFrame(local *webrtc.TrackLocalStaticSample, t mediapath.Track, f mediapath.Frame, last map[int]int64) error {
	duration := 20 * time.Millisecond
	if prev, ok := last[f.Track]; ok && f.PTS > prev {
		duration = mediapath.Duration(f.PTS-prev, t.ClockRate)
	}
	last[f.Track] = f.PTS
	switch t.Codec {
	case mediapath.H264:
		return local.WriteSample(media.Sample{Data: annexB(f.Units), Duration: duration})
	case mediapath.VP8, mediapath.VP9:
		return local.WriteSample(media.Sample{Data: bytes.Join(f.Units, nil), Duration: duration})
	}
	for _, u := range f.Units {
		if err := local.WriteSample(media.Sample{Data: u, Duration: duration / time.Duration(len(f.Units))}); err != nil {
			return err
		}
	}
	return nil
}

// annexB is an H.264 access unit as pion's payloader takes it: a start
// code before each NAL unit.
func annexB(units [][]byte) []byte {
	n := 0
	for _, u := range units {
		n += 4 + len(u)
	}
	b := make([]byte, 0, n)
	for _, u := range units {
		b = append(b, 0, 0, 0, 1)
		b = append(b, u...)
	}
	return b
}
