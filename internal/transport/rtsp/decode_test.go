package rtsp

import (
	"io"
	"log/slog"
	"testing"

	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// FuzzFrameDecoder: any RTP payload, of any format the publisher side
// depacketizes, yields frames or nothing, never a panic.
func FuzzFrameDecoder(f *testing.F) {
	f.Add(uint8(0), true, []byte{0x40, 0x01, 0x0c, 0x01})       // H.265 VPS
	f.Add(uint8(1), true, []byte{0x78, 0x01, 0x02})             // Opus
	f.Add(uint8(2), true, []byte{0, 0, 0, 0, 0xff, 0xfb, 0x90}) // MPEG audio header
	f.Add(uint8(3), false, []byte{0x1c, 0x80, 0x65})            // H.264 FU-A start
	s := New(Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, kind uint8, marker bool, payload []byte) {
		formats := []format.Format{
			&format.H265{PayloadTyp: 96},
			&format.Opus{PayloadTyp: 97, ChannelCount: 2},
			&format.MPEG1Audio{},
			&format.H264{PayloadTyp: 98, PacketizationMode: 1},
			&format.MPEG4Audio{PayloadTyp: 99, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3},
		}
		fm := formats[int(kind)%len(formats)]
		track, ok := trackFromFormat(fm)
		if !ok {
			return // AAC without a configuration is refused at ANNOUNCE
		}
		decode, err := s.frameDecoder(track, fm)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, SequenceNumber: uint16(i), PayloadType: fm.PayloadType()},
				Payload: payload}
			decode(pkt, int64(i)*3000)
		}
	})
}
