package webrtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"streamhub/internal/auth"
	mediapath "streamhub/internal/media"
	"streamhub/internal/transport/kit/httpx"
)

// WHIPPrefix is where WHIP ingest sessions are created: POST
// /v1/whip/<path> with an SDP offer; DELETE on the Location ends them.
const WHIPPrefix = "/v1/whip/"

// whipAPI negotiates only what a media path carries, H.264 (packetization
// mode 1) and Opus, so that a browser offering VP8 first still sends H.264.
func whipAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	video := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for pt, profile := range map[webrtc.PayloadType]string{102: "42001f", 106: "42e01f", 127: "4d001f", 112: "64001f"} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: video,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile}}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptorsWithOptions(m, ir, webrtc.WithInterceptorLoggerFactory(se.LoggerFactory)); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// ServeWHIP answers POST /v1/whip/{path...}: the offer in, 201 with the
// answer out; the path comes online with the first H.264 keyframe (with
// its SPS and PPS), or the first Opus packet of an audio-only offer.
func (s *Server) ServeWHIP(w http.ResponseWriter, r *http.Request) {
	if s.whip == nil || s.cfg.Paths == nil {
		httpx.WriteError(w, http.StatusServiceUnavailable, "webrtc_disabled", "webrtc or media is off")
		return
	}
	name := r.PathValue("path")
	if err := mediapath.ValidatePath(name); err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "invalid_path", err.Error())
		return
	}
	if !s.cfg.Policy.CanPublish(auth.FromContext(r.Context()), mediapath.Topic(name)) {
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "not allowed to publish "+mediapath.Topic(name))
		return
	}
	offer, ok := readOffer(w, r)
	if !ok {
		return
	}
	in := &ingest{name: name}
	ss, ok := s.startSessionWith(s.whip, w, r, offer, func(ss *session) error {
		in.ss = ss
		ss.pc.OnTrack(in.onTrack)
		return nil
	})
	if !ok {
		return
	}
	in.expect(ss.pc)
	context.AfterFunc(ss.ctx, in.close) // the path goes offline with the session
	ss.writeAnswer(w)
}

// ingest turns one WHIP session's RTP into a media path.
type ingest struct {
	ss   *session
	name string

	mu         sync.Mutex // guards the fields below
	video      bool       // the offer sends video (track 0 once online)
	audio      bool       // the offer sends audio (after the video track)
	pub        *mediapath.Publisher
	closed     bool
	dts        *h264.DTSExtractor
	videoTrack int
	audioTrack int
}

// expect notes which kinds the session receives.
func (in *ingest) expect(pc *webrtc.PeerConnection) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, t := range pc.GetTransceivers() {
		if t.Direction() != webrtc.RTPTransceiverDirectionRecvonly && t.Direction() != webrtc.RTPTransceiverDirectionSendrecv {
			continue
		}
		switch t.Kind() {
		case webrtc.RTPCodecTypeVideo:
			in.video = true
		case webrtc.RTPCodecTypeAudio:
			in.audio = true
		}
	}
}

func (in *ingest) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	if in.pub != nil {
		in.pub.Close()
	}
}

// onTrack reads one incoming track until the session ends.
func (in *ingest) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	if !in.ss.track() {
		return
	}
	go func() {
		defer in.ss.wg.Done()
		var err error
		switch remote.Codec().MimeType {
		case webrtc.MimeTypeH264:
			err = in.readH264(remote)
		case webrtc.MimeTypeOpus:
			err = in.readOpus(remote)
		default:
			err = fmt.Errorf("codec %s cannot be published", remote.Codec().MimeType)
		}
		if err != nil && in.ss.ctx.Err() == nil {
			in.ss.srv.log.Info("whip ingest ended", "transport", "webrtc", "path", in.name, "err", err)
			go in.ss.close()
		}
	}()
}

// clock unwraps a track's 32-bit RTP timestamps into a PTS from 0.
type clock struct {
	started bool
	last    uint32
	pts     int64
}

func (c *clock) next(ts uint32) int64 {
	if c.started {
		c.pts += int64(int32(ts - c.last))
	}
	c.started, c.last = true, ts
	return c.pts
}

// readRTP reads a track's packets until it ends, handing each on with its
// unwrapped timestamp.
func readRTP(remote *webrtc.TrackRemote, handle func(pkt *rtp.Packet, pts int64) error) error {
	var c clock
	for {
		pkt, _, err := remote.ReadRTP()
		if err != nil {
			return err
		}
		if err := handle(pkt, c.next(pkt.Timestamp)); err != nil {
			return err
		}
	}
}

// keyframeEvery is how often a WHIP video sender is asked for a keyframe
// (PLI): browsers send one at the start and then only when asked, and
// readers (RTSP, HLS segments, WHEP) start at keyframes.
const keyframeEvery = 2 * time.Second

// askKeyframes sends a PLI for the track every keyframeEvery until the
// session ends.
func (in *ingest) askKeyframes(ssrc webrtc.SSRC) {
	tick := time.NewTicker(keyframeEvery)
	defer tick.Stop()
	for {
		select {
		case <-in.ss.ctx.Done():
			return
		case <-tick.C:
			if err := in.ss.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}}); err != nil {
				return
			}
		}
	}
}

func (in *ingest) readH264(remote *webrtc.TrackRemote) error {
	if in.ss.track() {
		go func() {
			defer in.ss.wg.Done()
			in.askKeyframes(remote.SSRC())
		}()
	}
	f := &format.H264{PayloadTyp: uint8(remote.PayloadType()), PacketizationMode: 1}
	dec, err := f.CreateDecoder()
	if err != nil {
		return err
	}
	return readRTP(remote, func(pkt *rtp.Packet, pts int64) error {
		au, err := dec.Decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) {
				in.ss.srv.log.Debug("bad H.264 packet", "transport", "webrtc", "err", err)
			}
			return nil
		}
		return in.writeVideo(au, pts)
	})
}

func (in *ingest) readOpus(remote *webrtc.TrackRemote) error {
	return readRTP(remote, func(pkt *rtp.Packet, pts int64) error {
		if len(pkt.Payload) == 0 {
			return nil
		}
		return in.writeAudio(pkt.Payload, pts)
	})
}

// writeVideo writes one access unit; the first keyframe with its SPS and
// PPS brings the path online.
func (in *ingest) writeVideo(au [][]byte, pts int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	key := mediapath.IsKeyframe(mediapath.H264, au)
	if in.pub == nil {
		sps, pps := parameterSets(au)
		if !key || sps == nil || pps == nil {
			return nil // waiting for a decodable start
		}
		if err := in.publish(sps, pps); err != nil {
			return err
		}
	}
	if in.pub == nil {
		return nil
	}
	dts, err := in.dts.Extract(au, pts)
	if err != nil {
		return nil // before the DTS extractor has its keyframe
	}
	in.pub.Write(mediapath.Frame{Track: in.videoTrack, PTS: pts, DTS: dts, NTP: time.Now(), Units: au, Keyframe: key})
	return nil
}

// writeAudio writes one Opus packet; without video the first one brings
// the path online.
func (in *ingest) writeAudio(packet []byte, pts int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.pub == nil && !in.video {
		if err := in.publish(nil, nil); err != nil {
			return err
		}
	}
	if in.pub == nil {
		return nil // the video's first keyframe is not there yet
	}
	in.pub.Write(mediapath.Frame{Track: in.audioTrack, PTS: pts, DTS: pts, NTP: time.Now(), Units: [][]byte{packet}, Keyframe: true})
	return nil
}

// publish brings the path online with the session's tracks; in.mu held.
func (in *ingest) publish(sps, pps []byte) error {
	if in.closed {
		return errClosed
	}
	var tracks []mediapath.Track
	if in.video {
		in.videoTrack = len(tracks)
		tracks = append(tracks, mediapath.Track{Codec: mediapath.H264, ClockRate: 90000, SPS: sps, PPS: pps})
		in.dts = h264.NewDTSExtractor()
	}
	if in.audio {
		in.audioTrack = len(tracks)
		tracks = append(tracks, mediapath.Track{Codec: mediapath.Opus, ClockRate: 48000, Channels: 2})
	}
	pub, err := in.ss.srv.cfg.Paths.Publish(in.name, "webrtc", tracks)
	if err != nil {
		return fmt.Errorf("publishing %s: %w", in.name, err)
	}
	in.pub = pub
	return nil
}

// parameterSets finds the SPS and PPS among an access unit's NAL units.
func parameterSets(au [][]byte) (sps, pps []byte) {
	for _, u := range au {
		if len(u) == 0 {
			continue
		}
		switch h264.NALUType(u[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = u
		case h264.NALUTypePPS:
			pps = u
		}
	}
	return sps, pps
}
