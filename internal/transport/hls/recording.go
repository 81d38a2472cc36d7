package hls

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"streamhub/internal/media/record"
	"streamhub/internal/transport/kit/httpx"
)

// Recordings is what HLS needs from the recorder to play recordings:
// /hls/<path>/index.m3u8?start=[&duration=] lists recorded segments, each
// answered as an init section and a media segment (docs/MEDIA.md).
type Recordings interface {
	Records(path string) bool
	Recording(path string) bool
	Listing(path string, start time.Time, d time.Duration) ([]record.Listed, error)
	InitSection(path, name string) ([]byte, error)
	Fragment(path, name string, offset time.Duration) ([]byte, error)
}

var _ Recordings = (*record.Recorder)(nil)

// The files of a recording playlist, beside gohlslib's names (which start
// with the muxer's prefix, never "recording_").
const (
	recordingInit    = "recording_init.mp4"    // ?seg=NAME
	recordingSegment = "recording_segment.m4s" // ?seg=NAME&offset=MICROSECONDS
)

// isRecordingRequest tells the requests served from recordings: a
// playlist with a start, and the files such a playlist lists.
func isRecordingRequest(file string, q url.Values) bool {
	return file == "index.m3u8" && q.Has("start") || file == recordingInit || file == recordingSegment
}

// serveRecording answers a recording playlist or one of its files; the
// request is authorized already.
func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request, path, file string) {
	rec := s.cfg.Recordings
	if rec == nil || !rec.Records(path) {
		httpx.WriteError(w, http.StatusNotFound, "not_recorded", "media.record does not record "+path)
		return
	}
	q := r.URL.Query()
	var body []byte
	var err error
	switch file {
	case recordingInit:
		body, err = rec.InitSection(path, q.Get("seg"))
	case recordingSegment:
		offset, perr := strconv.ParseInt(q.Get("offset"), 10, 64)
		if perr != nil || offset < 0 {
			httpx.WriteError(w, http.StatusBadRequest, "bad_request", "offset: want microseconds")
			return
		}
		body, err = rec.Fragment(path, q.Get("seg"), time.Duration(offset)*time.Microsecond)
	default:
		err = s.servePlaylist(w, r, rec, path)
	}
	if body != nil && err == nil {
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = w.Write(body)
		return
	}
	switch {
	case err == nil:
	case errors.Is(err, errBadWindow):
		httpx.WriteError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, record.ErrNoRecording):
		httpx.WriteError(w, http.StatusNotFound, "not_found", err.Error())
	default:
		httpx.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
	}
}

var errBadWindow = errors.New("hls")

// servePlaylist answers a recording playlist: VOD over the window with a
// duration; without one, an event playlist from start that grows as the
// recorder finishes segments and ends once the path is not recorded.
func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, rec Recordings, path string) error {
	q := r.URL.Query()
	start, d, err := record.ParseWindow(q.Get("start"), q.Get("duration"), false)
	if err != nil {
		return fmt.Errorf("%w: %s", errBadWindow, err)
	}
	// Read before listing: a path whose recording ends meanwhile then
	// lists its last segment before the playlist says it ended.
	live := d == 0 && rec.Recording(path)
	segs, err := rec.Listing(path, start, d)
	if err != nil {
		return err
	}
	carry := url.Values{}
	if tok := q.Get("token"); tok != "" {
		carry.Set("token", tok) // relative URIs lose the playlist's query
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = io.WriteString(w, recordingPlaylist(segs, d > 0, live, carry))
	return err
}

// recordingPlaylist writes the playlist of segs (RFC 8216): a hole, a new
// publishing session or new tracks is an EXT-X-DISCONTINUITY with the
// init section of the segment after it, and each segment says its wall
// time in EXT-X-PROGRAM-DATE-TIME. gohlslib's playlist type has one
// EXT-X-MAP per playlist, so this one is written here.
func recordingPlaylist(segs []record.Listed, vod, live bool, carry url.Values) string {
	var b strings.Builder
	// RFC 8216 4.3.3.1: each duration rounded to the nearest second fits
	// the target; rounding (not ceiling) keeps an event playlist's target
	// as it was when a segment runs a keyframe interval past the minimum.
	target := 1
	for _, sg := range segs {
		target = max(target, int(math.Round(sg.Duration.Seconds())))
	}
	kind := "EVENT"
	if vod {
		kind = "VOD"
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:%s\n#EXT-X-INDEPENDENT-SEGMENTS\n", target, kind)
	if !vod {
		// From the start, not three segments before the live end.
		b.WriteString("#EXT-X-START:TIME-OFFSET=0,PRECISE=YES\n")
	}
	for i, sg := range segs {
		if sg.Discontinuity {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if i == 0 || sg.Discontinuity {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n", fileURI(recordingInit, url.Values{"seg": {sg.Init}}, carry))
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.6f,\n%s\n", sg.Start.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
			sg.Duration.Seconds(), fileURI(recordingSegment, url.Values{"seg": {sg.Name}, "offset": {strconv.FormatInt(sg.Offset.Microseconds(), 10)}}, carry))
	}
	if !live {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return b.String()
}

// fileURI is file with the query q and carry, relative to the playlist.
func fileURI(file string, q, carry url.Values) string {
	for k, v := range carry {
		q[k] = v
	}
	return file + "?" + q.Encode()
}
