package rtsp

import (
	"errors"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"streamhub/internal/media"
)

// publishing is a recording session's claim on its path.
type publishing struct {
	pub    *media.Publisher
	inputs []input
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
	if res := s.authorize(ctx.Request, ctx.Query, name, true); res != nil {
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
	ctx.Session.SetUserData(&publishing{pub: pub, inputs: inputs})
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

// OnSessionClose ends a publisher's path (readers told, state offline).
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if p, ok := ctx.Session.UserData().(*publishing); ok {
		p.pub.Close()
	}
}

// depacketize turns one media's RTP packets into frames of the path.
func (s *Server) depacketize(ss *gortsplib.ServerSession, pub *media.Publisher, in input) error {
	track := pub.Tracks()[in.track]
	switch f := in.format.(type) {
	case *format.H264:
		dec, err := f.CreateDecoder()
		if err != nil {
			return err
		}
		dts := h264.NewDTSExtractor()
		ss.OnPacketRTP(in.media, f, func(pkt *rtp.Packet) {
			pts, ok := ss.PacketPTS(in.media, pkt)
			if !ok {
				return
			}
			au, err := dec.Decode(pkt)
			if err != nil {
				if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
					s.remote.Info("bad H.264 packet", "err", err)
				}
				return
			}
			key := media.IsKeyframe(track.Codec, au)
			if key {
				au = media.WithParameterSets(track, au)
			}
			d, err := dts.Extract(au, pts)
			if err != nil {
				return // before the first keyframe
			}
			pub.Write(media.Frame{Track: in.track, PTS: pts, DTS: d, NTP: time.Now(), Units: au,
				Keyframe: key})
		})
	case *format.MPEG4Audio:
		dec, err := f.CreateDecoder()
		if err != nil {
			return err
		}
		ss.OnPacketRTP(in.media, f, func(pkt *rtp.Packet) {
			pts, ok := ss.PacketPTS(in.media, pkt)
			if !ok {
				return
			}
			aus, err := dec.Decode(pkt)
			if err != nil || len(aus) == 0 {
				return
			}
			pub.Write(media.Frame{Track: in.track, PTS: pts, DTS: pts, NTP: time.Now(), Units: aus, Keyframe: true})
		})
	}
	return nil
}
