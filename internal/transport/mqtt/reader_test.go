package mqtt

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// chunkedReader returns its data in reads of random sizes, as a socket does.
type chunkedReader struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	if r.rnd.IntN(4) == 0 {
		return 0, nil // as WebSocket's NetConn does between messages
	}
	n := min(len(p), len(r.data), 1+r.rnd.IntN(r.max))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// TestElasticReader reads a stream of packets of every size, from tiny to
// larger than the large buffer, through reads of every size: each packet
// arrives whole and in order whatever buffer the reader holds.
func TestElasticReader(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	var stream bytes.Buffer
	var want [][]byte
	for i := range 2000 {
		size := rnd.IntN(200)
		switch i % 50 {
		case 7:
			size = smallRead + rnd.IntN(smallRead)
		case 23:
			size = largeRead + rnd.IntN(3*largeRead)
		}
		payload := make([]byte, size)
		for j := range payload {
			payload[j] = byte(rnd.Uint32())
		}
		want = append(want, payload)
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: payload, ProtocolVersion: 4}
		if err := encode(&stream, &pk); err != nil {
			t.Fatal(err)
		}
	}
	for _, maxRead := range []int{1, 100, smallRead, 4 * largeRead} {
		reads := 0
		e := newElasticReader(&chunkedReader{data: stream.Bytes(), rnd: rnd, max: maxRead}, func() error { reads++; return nil })
		for i, w := range want {
			pk, err := readPacket(e, 4, 0, nil)
			if err != nil {
				t.Fatalf("max read %d, packet %d: %v", maxRead, i, err)
			}
			if !bytes.Equal(pk.Payload, w) {
				t.Fatalf("max read %d, packet %d: payload differs", maxRead, i)
			}
		}
		if _, err := readPacket(e, 4, 0, nil); err != io.EOF {
			t.Fatalf("max read %d: after the last packet: %v, want EOF", maxRead, err)
		}
		if maxRead < smallRead && e.large() {
			t.Errorf("max read %d: holds a large buffer though reads are small", maxRead)
		}
		if reads == 0 {
			t.Error("the hook before reads never ran")
		}
		e.release()
	}
}
