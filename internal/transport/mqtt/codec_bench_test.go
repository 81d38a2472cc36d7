package mqtt

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

func BenchmarkEncodePublish(b *testing.B) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "bench/topic",
		Payload: bytes.Repeat([]byte("x"), 100), PacketID: 1, ProtocolVersion: 4}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := encode(&buf, &pk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "bench/topic",
		Payload: bytes.Repeat([]byte("x"), 100), PacketID: 1, ProtocolVersion: 4}
	var buf bytes.Buffer
	encode(&buf, &pk)
	wire := buf.Bytes()
	r := bytes.NewReader(wire)
	br := bufio.NewReader(r)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(wire)
		br.Reset(r)
		if _, err := readPacket(br, 4, 1<<20, nil); err != nil {
			b.Fatal(err)
		}
	}
}
