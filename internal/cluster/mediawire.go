package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"streamhub/internal/media"
)

// wireTrack is a media.Track as a want's answer carries it.
type wireTrack struct {
	Codec     string `json:"codec"`
	ClockRate int    `json:"clock_rate"`
	VPS       []byte `json:"vps,omitempty"`
	SPS       []byte `json:"sps,omitempty"`
	PPS       []byte `json:"pps,omitempty"`
	AAC       []byte `json:"aac,omitempty"` // AudioSpecificConfig
	Channels  int    `json:"channels,omitempty"`
}

func encodeTracks(tracks []media.Track) []wireTrack {
	out := make([]wireTrack, len(tracks))
	for i, t := range tracks {
		out[i] = wireTrack{Codec: t.Codec, ClockRate: t.ClockRate, VPS: t.VPS, SPS: t.SPS, PPS: t.PPS, Channels: t.Channels}
		if t.AAC != nil {
			out[i].AAC, _ = t.AAC.Marshal() // it was unmarshalled or built valid
		}
	}
	return out
}

func decodeTracks(wire []wireTrack) ([]media.Track, error) {
	if len(wire) == 0 {
		return nil, media.ErrNoTracks
	}
	out := make([]media.Track, len(wire))
	for i, w := range wire {
		if w.ClockRate <= 0 {
			return nil, fmt.Errorf("track %d: clock rate %d", i, w.ClockRate)
		}
		out[i] = media.Track{Codec: w.Codec, ClockRate: w.ClockRate, VPS: w.VPS, SPS: w.SPS, PPS: w.PPS, Channels: w.Channels}
		if w.AAC != nil {
			var c mpeg4audio.AudioSpecificConfig
			if err := c.Unmarshal(w.AAC); err != nil {
				return nil, fmt.Errorf("track %d: %w", i, err)
			}
			out[i].AAC = &c
		}
	}
	return out, nil
}

// A frame on a frames subject: version byte, track (uint16), flags
// (keyframe), PTS, DTS, receive time (Unix ns) as int64, then each unit as
// a uint32 length and its bytes; all big-endian. The end marker is the
// version byte alone.
const (
	frameVersion = 1
	frameHeader  = 1 + 2 + 1 + 8 + 8 + 8
	flagKeyframe = 1
)

var endMarker = []byte{frameVersion}

func isEndMarker(data []byte) bool { return bytes.Equal(data, endMarker) }

func encodeFrame(f media.Frame) []byte {
	n := frameHeader
	for _, u := range f.Units {
		n += 4 + len(u)
	}
	b := make([]byte, 0, n)
	b = append(b, frameVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(f.Track))
	var flags byte
	if f.Keyframe {
		flags |= flagKeyframe
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(f.PTS))
	b = binary.BigEndian.AppendUint64(b, uint64(f.DTS))
	var ntp int64
	if !f.NTP.IsZero() {
		ntp = f.NTP.UnixNano()
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ntp))
	for _, u := range f.Units {
		b = binary.BigEndian.AppendUint32(b, uint32(len(u)))
		b = append(b, u...)
	}
	return b
}

var errBadFrame = errors.New("cluster: bad media frame")

// decodeFrame reads a frame encodeFrame wrote; its units alias data.
func decodeFrame(data []byte) (media.Frame, error) {
	if len(data) < frameHeader || data[0] != frameVersion {
		return media.Frame{}, errBadFrame
	}
	f := media.Frame{
		Track:    int(binary.BigEndian.Uint16(data[1:])),
		Keyframe: data[3]&flagKeyframe != 0,
		PTS:      int64(binary.BigEndian.Uint64(data[4:])),
		DTS:      int64(binary.BigEndian.Uint64(data[12:])),
	}
	if ntp := int64(binary.BigEndian.Uint64(data[20:])); ntp != 0 {
		f.NTP = time.Unix(0, ntp)
	}
	rest := data[frameHeader:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return media.Frame{}, errBadFrame
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return media.Frame{}, errBadFrame
		}
		f.Units = append(f.Units, rest[:n:n])
		rest = rest[n:]
	}
	if len(f.Units) == 0 {
		return media.Frame{}, errBadFrame
	}
	return f, nil
}
