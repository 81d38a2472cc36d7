package webrtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp8"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpvp9"
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

// whipVideoCodecs are the video codecs WHIP takes, most preferred first:
// H.264 (packetization mode 1), which every reader protocol carries, then
// VP8 and VP9 (profile 0), which only WHEP readers do.
func whipVideoCodecs() []webrtc.RTPCodecParameters {
	feedback := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	var codecs []webrtc.RTPCodecParameters
	for _, h264 := range []struct {
		pt      webrtc.PayloadType
		profile string
	}{{102, "42001f"}, {106, "42e01f"}, {127, "4d001f"}, {112, "64001f"}} {
		codecs = append(codecs, webrtc.RTPCodecParameters{PayloadType: h264.pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: feedback,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + h264.profile}})
	}
	return append(codecs,
		webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: feedback}},
		webrtc.RTPCodecParameters{PayloadType: 98, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, RTCPFeedback: feedback, SDPFmtpLine: "profile-id=0"}})
}

// whipAPI negotiates only what a media path carries: whipVideoCodecs and Opus.
func whipAPI(se webrtc.SettingEngine) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range whipVideoCodecs() {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
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
// answer out; the path comes online with the first video keyframe (H.264:
// with its SPS and PPS), or the first Opus packet of an audio-only offer.
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
		ss.beforeAnswer = func() error { return preferH264(ss.pc) }
		return nil
	})
	if !ok {
		return
	}
	in.expect(ss.pc)
	context.AfterFunc(ss.ctx, in.close) // the path goes offline with the session
	ss.listMedia("whip", name, true)
	ss.writeAnswer(w)
}

// preferH264 puts H.264 first among the codecs each video transceiver
// negotiated (then VP8, then VP9): a pion answer otherwise follows the
// offer's order, and browsers offer VP8 first, which RTMP, RTSP and HLS
// readers could not play.
func preferH264(pc *webrtc.PeerConnection) error {
	for _, t := range pc.GetTransceivers() {
		if t.Kind() != webrtc.RTPCodecTypeVideo || t.Receiver() == nil {
			continue
		}
		codecs := t.Receiver().GetParameters().Codecs
		slices.SortStableFunc(codecs, func(a, b webrtc.RTPCodecParameters) int {
			return videoRank(a.MimeType) - videoRank(b.MimeType)
		})
		if err := t.SetCodecPreferences(codecs); err != nil {
			return fmt.Errorf("ordering the video codecs: %w", err)
		}
	}
	return nil
}

// videoRank is a video codec's place in preferH264's order.
func videoRank(mime string) int {
	for i, preferred := range []string{webrtc.MimeTypeH264, webrtc.MimeTypeVP8, webrtc.MimeTypeVP9} {
		if strings.EqualFold(mime, preferred) {
			return i
		}
	}
	return 3
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
		case webrtc.MimeTypeVP8, webrtc.MimeTypeVP9:
			err = in.readVPx(remote)
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

// keepAskingKeyframes runs askKeyframes for a video track beside its reader.
func (in *ingest) keepAskingKeyframes(remote *webrtc.TrackRemote) {
	if in.ss.track() {
		go func() {
			defer in.ss.wg.Done()
			in.askKeyframes(remote.SSRC())
		}()
	}
}

func (in *ingest) readH264(remote *webrtc.TrackRemote) error {
	in.keepAskingKeyframes(remote)
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
		return in.writeVideo(mediapath.Track{Codec: mediapath.H264, ClockRate: 90000}, au, pts)
	})
}

// readVPx reads a VP8 or VP9 track: each frame is passed on whole, as the
// one unit of its media frame.
func (in *ingest) readVPx(remote *webrtc.TrackRemote) error {
	in.keepAskingKeyframes(remote)
	codec, decode, err := vpxDecoder(remote)
	if err != nil {
		return err
	}
	return readRTP(remote, func(pkt *rtp.Packet, pts int64) error {
		frame, err := decode(pkt)
		if err != nil {
			if !errors.Is(err, rtpvp8.ErrMorePacketsNeeded) && !errors.Is(err, rtpvp8.ErrNonStartingPacketAndNoPrevious) &&
				!errors.Is(err, rtpvp9.ErrMorePacketsNeeded) && !errors.Is(err, rtpvp9.ErrNonStartingPacketAndNoPrevious) {
				in.ss.srv.log.Debug("bad "+codec+" packet", "transport", "webrtc", "err", err)
			}
			return nil
		}
		return in.writeVideo(mediapath.Track{Codec: codec, ClockRate: 90000}, [][]byte{frame}, pts)
	})
}

// vpxDecoder is the media codec name and RTP depacketizer of a VP8 or VP9 track.
func vpxDecoder(remote *webrtc.TrackRemote) (string, func(*rtp.Packet) ([]byte, error), error) {
	pt := uint8(remote.PayloadType())
	if remote.Codec().MimeType == webrtc.MimeTypeVP8 {
		dec, err := (&format.VP8{PayloadTyp: pt}).CreateDecoder()
		if err != nil {
			return "", nil, fmt.Errorf("VP8 depacketizer: %w", err)
		}
		return mediapath.VP8, dec.Decode, nil
	}
	dec, err := (&format.VP9{PayloadTyp: pt}).CreateDecoder()
	if err != nil {
		return "", nil, fmt.Errorf("VP9 depacketizer: %w", err)
	}
	return mediapath.VP9, dec.Decode, nil
}

func (in *ingest) readOpus(remote *webrtc.TrackRemote) error {
	return readRTP(remote, func(pkt *rtp.Packet, pts int64) error {
		if len(pkt.Payload) == 0 {
			return nil
		}
		return in.writeAudio(pkt.Payload, pts)
	})
}

// writeVideo writes one access unit of video's codec; the first keyframe
// (H.264: with its SPS and PPS) brings the path online.
func (in *ingest) writeVideo(video mediapath.Track, au [][]byte, pts int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	key := mediapath.IsKeyframe(video.Codec, au)
	if in.pub == nil {
		if !key || !decodableStart(&video, au) {
			return nil // waiting for a decodable start
		}
		if err := in.publish(video); err != nil {
			return err
		}
	}
	dts := pts // VP8 and VP9 have no B-frames
	if in.dts != nil {
		var err error
		if dts, err = in.dts.Extract(au, pts); err != nil {
			return nil // before the DTS extractor has its keyframe
		}
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
		if err := in.publish(mediapath.Track{}); err != nil {
			return err
		}
	}
	if in.pub == nil {
		return nil // the video's first keyframe is not there yet
	}
	in.pub.Write(mediapath.Frame{Track: in.audioTrack, PTS: pts, DTS: pts, NTP: time.Now(), Units: [][]byte{packet}, Keyframe: true})
	return nil
}

// publish brings the path online with the session's tracks, video first
// when the offer sends it; in.mu held.
func (in *ingest) publish(video mediapath.Track) error {
	if in.closed {
		return errClosed
	}
	var tracks []mediapath.Track
	if in.video {
		in.videoTrack = len(tracks)
		tracks = append(tracks, video)
		if video.Codec == mediapath.H264 {
			in.dts = h264.NewDTSExtractor()
		}
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

// decodableStart reports whether a keyframe can start the path: H.264
// needs its SPS and PPS in it (copied into video); VP8 and VP9 need nothing.
func decodableStart(video *mediapath.Track, au [][]byte) bool {
	if video.Codec != mediapath.H264 {
		return true
	}
	video.SPS, video.PPS = parameterSets(au)
	return video.SPS != nil && video.PPS != nil
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
