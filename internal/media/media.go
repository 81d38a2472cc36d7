// Package media is the path registry behind every media transport: a path
// (live/cam1) has at most one publisher and any number of readers. Each
// protocol converts what its peers send into Tracks and Frames and back
// (RTMP, RTSP, HLS), so any publisher protocol reaches any reader protocol
// without N×N bridges. Readers get bounded queues that skip to the next
// keyframe when they fall behind, so a slow reader never stalls the
// publisher or the other readers. Frames never pass through the message
// hub; only each path's state does, as a retained $media/<path> message.
package media

import (
	"errors"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// Codec names, as they appear in $media state messages.
const (
	H264       = "h264"
	H265       = "h265"
	VP8        = "vp8" // WebRTC only: one frame per Frame.Units[0]
	VP9        = "vp9" // WebRTC only: one frame per Frame.Units[0]
	AAC        = "aac"
	Opus       = "opus"
	MPEG1Audio = "mpeg1audio"
)

// Track is one elementary stream of a path, with what a muxer needs to
// describe it (parameter sets, audio configuration).
type Track struct {
	Codec     string
	ClockRate int // timestamps of this track's frames count in these units per second
	// H.264 and H.265 parameter sets, sent in-band again before keyframes
	// that lack them so readers joining late can decode.
	VPS, SPS, PPS []byte
	AAC           *mpeg4audio.AudioSpecificConfig
	Channels      int // Opus
}

// Video reports whether the track carries video.
func (t Track) Video() bool {
	switch t.Codec {
	case H264, H265, VP8, VP9:
		return true
	}
	return false
}

// Frame is one access unit (video: the NAL units of one picture; audio:
// one or more audio frames) of one track.
type Frame struct {
	Track int   // index into the path's tracks
	PTS   int64 // in the track's clock rate, monotonic across RTP wrap-around
	// DTS is only meaningful for video with B-frames; zero-based as PTS.
	DTS      int64
	NTP      time.Time // wall-clock time the frame was received
	Units    [][]byte
	Keyframe bool // a video frame a decoder can start from; always true for audio
}

func (f Frame) size() int {
	n := 64
	for _, u := range f.Units {
		n += len(u)
	}
	return n
}

// Errors transports map onto their protocol's refusals.
var (
	ErrBusy      = errors.New("media: path already has a publisher")
	ErrNotFound  = errors.New("media: no publisher on this path")
	ErrEnded     = errors.New("media: the publisher ended the path")
	ErrBadPath   = errors.New("media: invalid path")
	ErrNoTracks  = errors.New("media: the publisher announced no supported track")
	ErrClosed    = errors.New("media: registry closed")
	errSlowQueue = errors.New("media: reader queue full")
)

// Ticks converts d to units of a clock running at rate per second,
// without overflowing for long-running streams.
func Ticks(d time.Duration, rate int) int64 {
	r := int64(rate)
	return int64(d/time.Second)*r + int64(d%time.Second)*r/int64(time.Second)
}

// Duration converts ticks of a clock running at rate per second to a duration.
func Duration(ticks int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(ticks/r)*time.Second + time.Duration(ticks%r)*time.Second/time.Duration(r)
}
