package rtsp

import (
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"streamhub/internal/media"
)

// mpeg1AudioClockRate is RFC 2250's fixed RTP clock for MPEG audio.
const mpeg1AudioClockRate = 90000

// trackFromFormat converts an announced RTSP format into the media model.
func trackFromFormat(f format.Format) (media.Track, bool) {
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		return media.Track{Codec: media.H264, ClockRate: 90000, SPS: sps, PPS: pps}, true
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		return media.Track{Codec: media.H265, ClockRate: 90000, VPS: vps, SPS: sps, PPS: pps}, true
	case *format.MPEG4Audio:
		if f.Config == nil {
			return media.Track{}, false
		}
		return media.Track{Codec: media.AAC, ClockRate: f.ClockRate(), AAC: f.Config}, true
	case *format.Opus:
		return media.Track{Codec: media.Opus, ClockRate: f.ClockRate(), Channels: f.ChannelCount}, true
	case *format.MPEG1Audio:
		return media.Track{Codec: media.MPEG1Audio, ClockRate: mpeg1AudioClockRate}, true
	}
	return media.Track{}, false
}

// formatFromTrack converts a media track into an RTSP format with payload
// type pt, or nil when RTSP output does not carry it yet.
func formatFromTrack(t media.Track, pt uint8) format.Format {
	switch t.Codec {
	case media.H264:
		return &format.H264{PayloadTyp: pt, SPS: t.SPS, PPS: t.PPS, PacketizationMode: 1}
	case media.H265:
		return &format.H265{PayloadTyp: pt, VPS: t.VPS, SPS: t.SPS, PPS: t.PPS}
	case media.AAC:
		return &format.MPEG4Audio{PayloadTyp: pt, Config: t.AAC, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	case media.Opus:
		return &format.Opus{PayloadTyp: pt, ChannelCount: max(t.Channels, 1)}
	case media.MPEG1Audio:
		// RFC 3551's static payload type; its clock is fixed at 90 kHz
		return &format.MPEG1Audio{}
	}
	return nil
}
