package rtmp

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg1audio"

	"streamhub/internal/media"
)

// play sends a path to an RTMP player until either side ends.
func (s *Server) play(conn net.Conn, sc *gortmplib.ServerConn, name string) error {
	rd, err := s.paths.Read(name, "rtmp")
	if err != nil {
		s.refuse(sc, conn.RemoteAddr().String(), "NetStream.Play.StreamNotFound", err)
		return err
	}
	defer rd.Close()
	tracks := make([]*gortmplib.Track, len(rd.Tracks()))
	var out []*gortmplib.Track
	for i, t := range rd.Tracks() {
		if tracks[i] = trackToRTMP(t); tracks[i] != nil {
			out = append(out, tracks[i])
		}
	}
	conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
	w := &gortmplib.Writer{Conn: sc, Tracks: out}
	if err := w.Initialize(); err != nil {
		return errorf("play: %w", err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	// The player sends little after play (acknowledgements); reading is
	// how its going away is noticed.
	go func() {
		io.Copy(io.Discard, conn) //nolint:errcheck // any end means the player left
		cancel()
	}()
	for {
		f, err := rd.Next(ctx)
		if err != nil {
			return err
		}
		t := tracks[f.Track]
		if t == nil {
			continue
		}
		conn.SetWriteDeadline(time.Now().Add(s.cfg.Timeout))
		if err := writeFrame(w, t, rd.Tracks()[f.Track], f); err != nil {
			return errorf("play: %w", err)
		}
	}
}

// trackToRTMP converts a media track into what RTMP can carry, or nil.
func trackToRTMP(t media.Track) *gortmplib.Track {
	switch t.Codec {
	case media.H264:
		return &gortmplib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}}
	case media.H265:
		return &gortmplib.Track{Codec: &codecs.H265{VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}}
	case media.AAC:
		return &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: t.AAC}}
	case media.MPEG1Audio:
		return &gortmplib.Track{Codec: &codecs.MPEG1Audio{}}
	}
	return nil
}

func writeFrame(w *gortmplib.Writer, t *gortmplib.Track, mt media.Track, f media.Frame) error {
	pts, dts := media.Duration(f.PTS, mt.ClockRate), media.Duration(f.DTS, mt.ClockRate)
	switch mt.Codec {
	case media.H264:
		return w.WriteH264(t, pts, dts, f.Units)
	case media.H265:
		return w.WriteH265(t, pts, dts, f.Units)
	case media.AAC:
		for i, au := range f.Units {
			// several AUs in one frame (RTSP packs them): 1024 samples each
			at := pts + media.Duration(int64(i)*1024, mt.ClockRate)
			if err := w.WriteMPEG4Audio(t, at, au); err != nil {
				return err
			}
		}
	case media.MPEG1Audio:
		return writeMPEG1Audio(w, t, pts, f.Units)
	}
	return nil
}

// writeMPEG1Audio sends each MPEG audio frame (RTSP packs several in one
// packet) at its own time, from the sample counts of the frames before it.
// A frame without a valid header is left out rather than ending the player.
func writeMPEG1Audio(w *gortmplib.Writer, t *gortmplib.Track, pts time.Duration, frames [][]byte) error {
	for _, frame := range frames {
		var h mpeg1audio.FrameHeader
		if err := h.Unmarshal(frame); err != nil {
			continue
		}
		if err := w.WriteMPEG1Audio(t, pts, frame); err != nil {
			return err
		}
		pts += media.Duration(int64(h.SampleCount()), h.SampleRate)
	}
	return nil
}
