package rtsp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtp"

	"streamhub/internal/auth"
	"streamhub/internal/media"
)

// OnDescribe answers a reader with the path's SDP.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	res, rd, err := h.s.readStream(ctx.Conn.NetConn(), ctx.Request, ctx.Path, ctx.Query)
	return res, rd.serverStream(), err
}

// OnSetup accepts a publisher's media, and adds a reader to the path's stream.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return status(base.StatusOK), nil, nil
	}
	res, rd, err := h.s.readStream(ctx.Conn.NetConn(), ctx.Request, ctx.Path, ctx.Query)
	if _, set := ctx.Session.UserData().(*reading); rd != nil && !set {
		ctx.Session.SetUserData(rd)
	}
	return res, rd.serverStream(), err
}

// OnPlay starts sending (the stream already feeds every playing session)
// and counts the session among the path's readers.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if rd, ok := ctx.Session.UserData().(*reading); ok && rd.leave == nil {
		rd.leave = rd.stream.reader.Join()
		rd.unlist = h.s.listed(ctx.Session, ctx.Conn, rd.id, rd.stream.name, false)
	}
	return status(base.StatusOK), nil
}

// reading is a playing session's place on its path.
type reading struct {
	stream        *outStream
	id            *auth.Identity
	leave, unlist func() // set by PLAY
}

func (rd *reading) serverStream() *gortsplib.ServerStream {
	if rd == nil {
		return nil
	}
	return rd.stream.stream
}

func (rd *reading) stop() {
	if rd.leave != nil {
		rd.leave()
		rd.unlist()
	}
}

func (s *Server) readStream(nc net.Conn, req *base.Request, rawPath, query string) (*base.Response, *reading, error) {
	name := pathOf(rawPath)
	if err := media.ValidatePath(name); err != nil {
		return status(base.StatusBadRequest), nil, err
	}
	id, res := s.authorize(nc, req, query, name, false)
	if res != nil {
		return res, nil, nil
	}
	st, err := s.outStream(name)
	if err != nil {
		if errors.Is(err, media.ErrNotFound) {
			return status(base.StatusNotFound), nil, nil
		}
		return status(base.StatusBadRequest), nil, err
	}
	return status(base.StatusOK), &reading{stream: st, id: id}, nil
}

// outStream is one path packetized as RTP once, for all its RTSP readers
// (gortsplib gives each reader its own bounded write queue). Its media
// reader is shared: each playing session joins it, so the path counts
// its RTSP sessions, not the stream.
type outStream struct {
	server  *Server
	name    string
	reader  *media.Reader
	stream  *gortsplib.ServerStream
	outputs []output // by media track index; media nil: not carried
	cancel  context.CancelFunc
	done    chan struct{}
}

type output struct {
	media  *description.Media
	encode func(units [][]byte) ([]*rtp.Packet, error)
}

func (s *Server) outStream(name string) (*outStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.streams[name]; st != nil {
		return st, nil
	}
	rd, err := s.paths.ReadShared(name, "rtsp")
	if err != nil {
		return nil, err
	}
	st, err := newOutStream(s, name, rd)
	if err != nil {
		rd.Close()
		return nil, err
	}
	s.streams[name] = st
	return st, nil
}

func newOutStream(s *Server, name string, rd *media.Reader) (*outStream, error) {
	st := &outStream{server: s, name: name, reader: rd, done: make(chan struct{})}
	desc := &description.Session{}
	st.outputs = make([]output, len(rd.Tracks()))
	for i, t := range rd.Tracks() {
		f := formatFromTrack(t, uint8(96+len(desc.Medias)))
		if f == nil {
			continue
		}
		encode, err := encoder(f)
		if err != nil {
			return nil, err
		}
		m := &description.Media{Type: description.MediaTypeAudio, Formats: []format.Format{f}}
		if t.Video() {
			m.Type = description.MediaTypeVideo
		}
		desc.Medias = append(desc.Medias, m)
		st.outputs[i] = output{media: m, encode: encode}
	}
	if len(desc.Medias) == 0 {
		return nil, errors.New("rtsp: the path has no track RTSP output carries")
	}
	st.stream = &gortsplib.ServerStream{Server: s.rtsp, Desc: desc}
	if err := st.stream.Initialize(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	go st.run(ctx)
	return st, nil
}

func encoder(f format.Format) (func([][]byte) ([]*rtp.Packet, error), error) {
	switch f := f.(type) {
	case *format.H264:
		return auEncode(f.CreateEncoder())
	case *format.H265:
		return auEncode(f.CreateEncoder())
	case *format.MPEG4Audio:
		return auEncode(f.CreateEncoder())
	case *format.MPEG1Audio:
		return auEncode(f.CreateEncoder())
	case *format.Opus:
		e, err := f.CreateEncoder()
		if err != nil {
			return nil, err
		}
		return opusEncoder(e.Encode), nil
	}
	return nil, errors.New("rtsp: no encoder")
}

// auEncoder is the packetizers that take a whole frame's units at once.
type auEncoder interface {
	Encode(units [][]byte) ([]*rtp.Packet, error)
}

// auEncode returns a newly created packetizer's Encode.
func auEncode[E auEncoder](e E, err error) (func([][]byte) ([]*rtp.Packet, error), error) {
	if err != nil {
		return nil, err
	}
	return e.Encode, nil
}

// opusEncoder sends each Opus packet of a frame as one RTP packet, each
// stamped after the ones before it (Opus runs at 48 kHz in RTP).
func opusEncoder(encode func([]byte) (*rtp.Packet, error)) func([][]byte) ([]*rtp.Packet, error) {
	return func(units [][]byte) ([]*rtp.Packet, error) {
		pkts := make([]*rtp.Packet, 0, len(units))
		var offset int64
		for _, u := range units {
			pkt, err := encode(u)
			if err != nil {
				return nil, fmt.Errorf("opus packet: %w", err)
			}
			pkt.Timestamp += uint32(offset)
			offset += opus.PacketDuration2(u)
			pkts = append(pkts, pkt)
		}
		return pkts, nil
	}
}

// run packetizes the path's frames until it ends, then closes the stream,
// which ends the readers' sessions.
func (st *outStream) run(ctx context.Context) {
	defer close(st.done)
	defer st.stream.Close()
	defer st.reader.Close()
	defer st.server.forget(st)
	for {
		f, err := st.reader.Next(ctx)
		if err != nil {
			return
		}
		out := st.outputs[f.Track]
		if out.media == nil {
			continue
		}
		pkts, err := out.encode(f.Units)
		if err != nil {
			st.server.log.Debug("packetize", "path", st.name, "err", err)
			continue
		}
		for _, pkt := range pkts {
			pkt.Timestamp += uint32(f.PTS)                         // wraps as RTP timestamps do
			st.stream.WritePacketRTPWithNTP(out.media, pkt, f.NTP) //nolint:errcheck // a closed stream ends the loop
		}
	}
}

func (st *outStream) stop() {
	st.cancel()
	select {
	case <-st.done:
	case <-time.After(5 * time.Second):
	}
}

func (s *Server) forget(st *outStream) {
	s.mu.Lock()
	if s.streams[st.name] == st {
		delete(s.streams, st.name)
	}
	s.mu.Unlock()
}
