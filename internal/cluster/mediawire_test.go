package cluster

import (
	"bytes"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"streamhub/internal/media"
)

func TestMediaFrameRoundTrip(t *testing.T) {
	in := media.Frame{Track: 1, PTS: 1 << 40, DTS: -3, NTP: time.Unix(1700000000, 123), Keyframe: true,
		Units: [][]byte{{0x65, 1, 2}, {}, {0x06}}}
	out, err := decodeFrame(encodeFrame(in))
	if err != nil {
		t.Fatal(err)
	}
	if out.Track != in.Track || out.PTS != in.PTS || out.DTS != in.DTS || !out.NTP.Equal(in.NTP) ||
		out.Keyframe != in.Keyframe || len(out.Units) != len(in.Units) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
	for i := range in.Units {
		if !bytes.Equal(out.Units[i], in.Units[i]) {
			t.Fatalf("unit %d: %x, want %x", i, out.Units[i], in.Units[i])
		}
	}
	if isEndMarker(encodeFrame(in)) || !isEndMarker(endMarker) {
		t.Fatal("a frame taken for the end marker, or the reverse")
	}
}

func TestMediaTracksRoundTrip(t *testing.T) {
	in := []media.Track{
		{Codec: media.H264, ClockRate: 90000, SPS: []byte{0x67, 1}, PPS: []byte{0x68, 2}},
		{Codec: media.AAC, ClockRate: 44100, AAC: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2}},
	}
	out, err := decodeTracks(encodeTracks(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || !bytes.Equal(out[0].SPS, in[0].SPS) || out[1].AAC == nil || out[1].AAC.SampleRate != 44100 ||
		out[1].AAC.ChannelCount != 2 {
		t.Fatalf("got %+v", out)
	}
	if _, err := decodeTracks([]wireTrack{{Codec: media.AAC, ClockRate: 44100, AAC: []byte{0xff}}}); err == nil {
		t.Fatal("a bad AudioSpecificConfig was accepted")
	}
}

// FuzzMediaFrame: no input crashes the decoder, and what it accepts
// encodes back to the same bytes.
func FuzzMediaFrame(f *testing.F) {
	f.Add(encodeFrame(media.Frame{Track: 0, PTS: 90000, Keyframe: true, Units: [][]byte{{0x65, 0x88}}}))
	f.Add(encodeFrame(media.Frame{Track: 2, PTS: 1, DTS: 1, Units: [][]byte{{1}, {2, 3}}}))
	f.Add(endMarker)
	f.Add([]byte{frameVersion, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := decodeFrame(data)
		if err != nil {
			return
		}
		again, err := decodeFrame(encodeFrame(fr))
		if err != nil || again.PTS != fr.PTS || again.DTS != fr.DTS || len(again.Units) != len(fr.Units) {
			t.Fatalf("re-encoded frame differs: %+v, %v", again, err)
		}
	})
}
