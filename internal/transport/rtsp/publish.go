package rtsp

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"

	"streamhub/internal/media"
)

// publishing is a recording session's claim on its path.
type publishing struct {
	pub    *media.Publisher
	inputs []input
	unlist func()
}

// input is one announced media that maps onto a media track.
type input struct {
	media  *description.Media
	format format.Format
	track  int
}

// OnAnnounce claims the path for the announcing session, if its SDP
// carries a track we can remux.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := h.s
	name := pathOf(ctx.Path)
	if err := media.ValidatePath(name); err != nil {
		return status(base.StatusBadRequest), err
	}
	id, res := s.authorize(ctx.Conn.NetConn(), ctx.Request, ctx.Query, name, true)
	if res != nil {
		return res, nil
	}
	var tracks []media.Track
	var inputs []input
	for _, m := range ctx.Description.Medias {
		for _, f := range m.Formats {
			if t, ok := trackFromFormat(f); ok {
				inputs = append(inputs, input{media: m, format: f, track: len(tracks)})
				tracks = append(tracks, t)
				break
			}
		}
	}
	pub, err := s.paths.Publish(name, "rtsp", tracks)
	if err != nil {
		s.remote.Info("publish refused", "path", name, "err", err)
		if errors.Is(err, media.ErrNoTracks) {
			return status(base.StatusUnsupportedMediaType), err
		}
		return status(base.StatusBadRequest), err
	}
	ctx.Session.SetUserData(&publishing{pub: pub, inputs: inputs, unlist: s.listed(ctx.Session, ctx.Conn, id, name, true)})
	return status(base.StatusOK), nil
}

// OnRecord starts copying the session's RTP into the path.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	p, ok := ctx.Session.UserData().(*publishing)
	if !ok {
		return status(base.StatusBadRequest), errors.New("rtsp: RECORD without ANNOUNCE")
	}
	for _, in := range p.inputs {
		if err := h.s.depacketize(ctx.Session, p.pub, in); err != nil {
			return status(base.StatusBadRequest), err
		}
	}
	return status(base.StatusOK), nil
}

// depacketize turns one media's RTP packets into frames of the path.
func (s *Server) depacketize(ss *gortsplib.ServerSession, pub *media.Publisher, in input) error {
	decode, err := s.frameDecoder(pub.Tracks()[in.track], in.format)
	if err != nil {
		return fmt.Errorf("rtsp: %s decoder: %w", in.format.Codec(), err)
	}
	ss.OnPacketRTP(in.media, in.format, func(pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS(in.media, pkt)
		if !ok {
			return
		}
		if f, ok := decode(pkt, pts); ok {
			f.Track, f.NTP = in.track, time.Now()
			pub.Write(f)
		}
	})
	return nil
}

// frameDecoder turns RTP packets of one format into frames (without track
// and receive time); ok is false while a frame is incomplete or unusable.
type frameDecoder func(pkt *rtp.Packet, pts int64) (f media.Frame, ok bool)

func (s *Server) frameDecoder(track media.Track, f format.Format) (frameDecoder, error) {
	switch f := f.(type) {
	case *format.H264:
		decode, err := auDecode(f.CreateDecoder())
		return s.videoDecoder(track, decode, h264.NewDTSExtractor()), err
	case *format.H265:
		decode, err := auDecode(f.CreateDecoder())
		return s.videoDecoder(track, decode, h265.NewDTSExtractor()), err
	case *format.MPEG4Audio:
		decode, err := auDecode(f.CreateDecoder())
		return audioDecoder(decode), err
	case *format.MPEG1Audio:
		decode, err := auDecode(f.CreateDecoder())
		return audioDecoder(decode), err
	case *format.Opus:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return audioDecoder(func(pkt *rtp.Packet) ([][]byte, error) {
			p, err := dec.Decode(pkt)
			return [][]byte{p}, err
		}), nil
	}
	return nil, errors.New("no decoder for this format")
}

// auDecoder is the depacketizers that return a whole frame's units.
type auDecoder interface {
	Decode(pkt *rtp.Packet) ([][]byte, error)
}

// auDecode returns a newly created depacketizer's Decode (the caller drops
// what it builds on it when err is set).
func auDecode[D auDecoder](d D, err error) (func(*rtp.Packet) ([][]byte, error), error) {
	if err != nil {
		return nil, err
	}
	return d.Decode, nil
}

// dtsExtractor is what H.264's and H.265's DTS extractors have in common.
type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

// videoDecoder puts parameter sets in front of keyframes and derives DTS
// (B-frames); frames before the first keyframe are dropped.
func (s *Server) videoDecoder(track media.Track, decode func(*rtp.Packet) ([][]byte, error), dts dtsExtractor) frameDecoder {
	return func(pkt *rtp.Packet, pts int64) (media.Frame, bool) {
		au, err := decode(pkt)
		if err != nil {
			if !incompleteAU(err) {
				s.remote.Info("bad video packet", "codec", track.Codec, "err", err)
			}
			return media.Frame{}, false
		}
		key := media.IsKeyframe(track.Codec, au)
		if key {
			au = media.WithParameterSets(track, au)
		}
		d, err := dts.Extract(au, pts)
		if err != nil {
			return media.Frame{}, false // before the first keyframe
		}
		return media.Frame{PTS: pts, DTS: d, Units: au, Keyframe: key}, true
	}
}

// incompleteAU reports the decoder errors that only mean "wait for more
// packets" (or for the start of the next access unit).
func incompleteAU(err error) bool {
	return errors.Is(err, rtph264.ErrMorePacketsNeeded) || errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) ||
		errors.Is(err, rtph265.ErrMorePacketsNeeded) || errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious)
}

// audioDecoder makes every complete packet's audio frames one frame.
func audioDecoder(decode func(*rtp.Packet) ([][]byte, error)) frameDecoder {
	return func(pkt *rtp.Packet, pts int64) (media.Frame, bool) {
		aus, err := decode(pkt)
		if err != nil || len(aus) == 0 {
			return media.Frame{}, false
		}
		return media.Frame{PTS: pts, DTS: pts, Units: aus, Keyframe: true}, true
	}
}
