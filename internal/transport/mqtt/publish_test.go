package mqtt

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/message"
)

// TestAppendPublish checks our PUBLISH encoder against mochi-mqtt's decoder
// for every option the broker sends.
func TestAppendPublish(t *testing.T) {
	t.Parallel()
	plain := &message.Message{Topic: "a/b", Payload: []byte("25")}
	rich := &message.Message{Topic: "sensors/é/temp", Payload: bytes.Repeat([]byte{0, 1, 0xFF}, 100), ContentType: "application/json",
		ResponseTopic: "reply/here", CorrelationData: []byte{9, 8, 7}, UTF8: true, Expires: time.Now().Add(time.Hour),
		Headers: []message.Header{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}
	big := &message.Message{Topic: "big", Payload: bytes.Repeat([]byte("x"), 3<<20)}
	for _, tc := range []struct {
		name string
		m    *message.Message
		out  outPublish
	}{
		{"v4 qos0", plain, outPublish{version: 4}},
		{"v4 qos1 dup retain", plain, outPublish{version: 4, qos: 1, id: 7, dup: true, retain: true}},
		{"v4 qos2 big", big, outPublish{version: 4, qos: 2, id: 65535}},
		{"v5 qos0 none", plain, outPublish{version: 5}},
		{"v5 rich", rich, outPublish{version: 5, qos: 1, id: 3, subIDs: []int{1, 300, 268435455}, alias: 4, expiry: 3600}},
		{"v5 alias only", rich, outPublish{version: 5, alias: 4, noTopic: true}},
	} {
		b := appendPublish([]byte("prefix"), tc.m, tc.out)[len("prefix"):]
		if got := publishSize(tc.m, tc.out); got != len(b) {
			t.Errorf("%s: publishSize %d, encoded %d", tc.name, got, len(b))
		}
		pk, err := readPacket(bufio.NewReader(bytes.NewReader(b)), tc.out.version, 0, nil)
		if err != nil {
			t.Fatalf("%s: mochi cannot decode it: %v", tc.name, err)
		}
		wantTopic := tc.m.Topic
		if tc.out.noTopic {
			wantTopic = ""
		}
		fh := pk.FixedHeader
		if pk.TopicName != wantTopic || !bytes.Equal(pk.Payload, tc.m.Payload) || fh.Qos != tc.out.qos ||
			fh.Retain != tc.out.retain || fh.Dup != tc.out.dup || pk.PacketID != tc.out.id {
			t.Errorf("%s: decoded %q qos %d retain %v dup %v id %d", tc.name, pk.TopicName, fh.Qos, fh.Retain, fh.Dup, pk.PacketID)
		}
		if tc.out.version < 5 {
			continue
		}
		pr := pk.Properties
		var users []message.Header
		for _, u := range pr.User {
			users = append(users, message.Header{Key: u.Key, Value: u.Val})
		}
		if pr.ContentType != tc.m.ContentType || pr.ResponseTopic != tc.m.ResponseTopic ||
			!bytes.Equal(pr.CorrelationData, tc.m.CorrelationData) || (pr.PayloadFormat == 1) != tc.m.UTF8 ||
			pr.MessageExpiryInterval != tc.out.expiry || pr.TopicAlias != tc.out.alias ||
			!slices.Equal(pr.SubscriptionIdentifier, tc.out.subIDs) || !slices.Equal(users, tc.m.Headers) {
			t.Errorf("%s: properties decoded as %+v", tc.name, pr)
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	m := &message.Message{Topic: "bench/1", Payload: make([]byte, 100)}
	out := outPublish{version: 4}
	var buf []byte
	for b.Loop() {
		buf = appendPublish(buf[:0], m, out)
	}
}

// TestAppendAck checks PUBACK, PUBREC, PUBREL and PUBCOMP against
// mochi-mqtt's decoder, with and without a reason code.
func TestAppendAck(t *testing.T) {
	t.Parallel()
	for _, typ := range []byte{packets.Puback, packets.Pubrec, packets.Pubrel, packets.Pubcomp} {
		for _, v := range []byte{4, 5} {
			for _, reason := range []byte{0, packets.ErrPacketIdentifierNotFound.Code} {
				b := appendAck(nil, typ, 513, reason, v)
				pk, err := readPacket(bufio.NewReader(bytes.NewReader(b)), v, 0, nil)
				want := reason
				if v < 5 {
					want = 0
				}
				if err != nil || pk.FixedHeader.Type != typ || pk.PacketID != 513 || pk.ReasonCode != want {
					t.Errorf("type %d v%d reason %#x: %v %+v", typ, v, reason, err, pk)
				}
			}
		}
	}
}

// TestDecodePublishReusesTheTopic: a PUBLISH to the same topic as the
// connection's previous one takes that topic's string rather than a new
// copy (an allocation per message, on the path every message takes), and
// one to another topic gets its own.
func TestDecodePublishReusesTheTopic(t *testing.T) {
	body := append([]byte{0, 3, 'a', '/', 'b'}, "payload"...)
	fh := packets.FixedHeader{Type: packets.Publish}
	prev := strings.Clone("a/b")
	allocs := testing.AllocsPerRun(100, func() {
		in, err := decodePublish(fh, body, 4, prev)
		if err != nil || in.topic != "a/b" {
			t.Fatalf("decoded %q, %v", in.topic, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per PUBLISH to the previous topic", allocs)
	}
	if in, _ := decodePublish(fh, body, 4, "a/c"); in.topic != "a/b" {
		t.Fatalf("decoded %q after a/c", in.topic)
	}
}
