package rtmp

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"streamhub/internal/media"
)

// publish reads the publisher's tracks, claims the path and copies frames
// into it until the publisher goes away; the path then ends cleanly.
func (s *Server) publish(conn net.Conn, sc *gortmplib.ServerConn, name string) error {
	conn.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		return errorf("read tracks: %w", err)
	}
	var tracks []media.Track
	var sources []*gortmplib.Track
	for _, t := range r.Tracks() {
		mt, ok := trackFromRTMP(t)
		if !ok {
			s.log.Info("track skipped: codec not supported", "path", name, "codec", fmt.Sprintf("%T", t.Codec))
			discard(r, t)
			continue
		}
		tracks, sources = append(tracks, mt), append(sources, t)
	}
	pub, err := s.paths.Publish(name, "rtmp", tracks)
	if err != nil {
		s.refuse(sc, conn.RemoteAddr().String(), "NetStream.Publish.BadName", err)
		return err
	}
	defer pub.Close()
	for i, t := range sources {
		onData(r, t, i, tracks[i], pub)
	}
	for {
		conn.SetReadDeadline(time.Now().Add(s.cfg.Timeout))
		if err := r.Read(); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return errorf("read: %w", err)
		}
	}
}

// trackFromRTMP converts an RTMP track into the media model.
func trackFromRTMP(t *gortmplib.Track) (media.Track, bool) {
	switch c := t.Codec.(type) {
	case *codecs.H264:
		return media.Track{Codec: media.H264, ClockRate: 90000, SPS: c.SPS, PPS: c.PPS}, true
	case *codecs.H265:
		return media.Track{Codec: media.H265, ClockRate: 90000, VPS: c.VPS, SPS: c.SPS, PPS: c.PPS}, true
	case *codecs.MPEG4Audio:
		if c.Config == nil {
			return media.Track{}, false
		}
		return media.Track{Codec: media.AAC, ClockRate: c.Config.SampleRate, AAC: c.Config}, true
	case *codecs.MPEG1Audio:
		// RTP's clock for MPEG audio (RFC 2250), so RTSP carries it unchanged
		return media.Track{Codec: media.MPEG1Audio, ClockRate: 90000}, true
	}
	return media.Track{}, false
}

// onData routes the reader's frames of track t into the publisher as
// frames of track idx.
func onData(r *gortmplib.Reader, t *gortmplib.Track, idx int, mt media.Track, pub *media.Publisher) {
	switch mt.Codec {
	case media.H264, media.H265:
		cb := func(pts, dts time.Duration, au [][]byte) {
			pub.Write(media.Frame{Track: idx, PTS: media.Ticks(pts, mt.ClockRate), DTS: media.Ticks(dts, mt.ClockRate),
				NTP: time.Now(), Units: au, Keyframe: media.IsKeyframe(mt.Codec, au)})
		}
		if mt.Codec == media.H264 {
			r.OnDataH264(t, cb)
		} else {
			r.OnDataH265(t, cb)
		}
	case media.AAC:
		r.OnDataMPEG4Audio(t, func(pts time.Duration, au []byte) {
			ticks := media.Ticks(pts, mt.ClockRate)
			pub.Write(media.Frame{Track: idx, PTS: ticks, DTS: ticks, NTP: time.Now(), Units: [][]byte{au}, Keyframe: true})
		})
	case media.MPEG1Audio:
		r.OnDataMPEG1Audio(t, func(pts time.Duration, frame []byte) {
			ticks := media.Ticks(pts, mt.ClockRate)
			pub.Write(media.Frame{Track: idx, PTS: ticks, DTS: ticks, NTP: time.Now(), Units: [][]byte{frame}, Keyframe: true})
		})
	}
}

// discard drops a skipped track's data: gortmplib's Reader calls the
// callback of every announced track and panics on one never set.
// OnDataVP9 and OnDataOpus are used for any codec as they only pass on
// (here: ignore) payloads and never look at the track's codec.
func discard(r *gortmplib.Reader, t *gortmplib.Track) {
	if t.Codec.IsVideo() {
		r.OnDataVP9(t, func(time.Duration, []byte) {})
	} else {
		r.OnDataOpus(t, func(time.Duration, []byte) {})
	}
}
