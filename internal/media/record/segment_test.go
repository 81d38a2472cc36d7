package record

import (
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// The buffer a segment is marshaled into is sized once by fragmentSize:
// it must hold the whole fragment, for one track or several, one sample or
// a 10 s segment's worth, with composition offsets and sync flags set.
func TestFragmentSizeCoversMarshal(t *testing.T) {
	track := func(id, n, size int) *fmp4.PartTrack {
		tr := &fmp4.PartTrack{ID: id, BaseTime: 1 << 40}
		for i := range n {
			tr.Samples = append(tr.Samples, &fmp4.Sample{Duration: 3000, PTSOffset: int32(i % 3 * 3000),
				IsNonSyncSample: i%30 != 0, Payload: make([]byte, size+i%7)})
		}
		return tr
	}
	for name, part := range map[string]fmp4.Part{
		"one sample":        {Tracks: []*fmp4.PartTrack{track(1, 1, 0)}},
		"10 s video, audio": {SequenceNumber: 7, Tracks: []*fmp4.PartTrack{track(1, 300, 8000), track(2, 470, 370)}},
		"eight tracks":      {Tracks: []*fmp4.PartTrack{track(1, 2, 1), track(2, 2, 1), track(3, 2, 1), track(4, 2, 1), track(5, 2, 1), track(6, 2, 1), track(7, 2, 1), track(8, 2, 1)}},
	} {
		var buf seekablebuffer.Buffer
		if err := part.Marshal(&buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, room := buf.Len(), fragmentSize(part); got > room {
			t.Errorf("%s: marshaled %d bytes, sized for %d", name, got, room)
		}
	}
}
