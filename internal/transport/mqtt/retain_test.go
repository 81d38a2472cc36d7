package mqtt

import (
	"bufio"
	"bytes"
	"testing"
	"unsafe"

	"github.com/mochi-mqtt/server/v2/packets"
)

// within reports whether the n bytes at p lie inside buf's backing array:
// a string or slice that does keeps the whole packet alive.
func within(p *byte, n int, buf []byte) bool {
	if p == nil || n == 0 || cap(buf) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	at := uintptr(unsafe.Pointer(p))
	return at >= start && at < start+uintptr(cap(buf))
}

func stringWithin(s string, buf []byte) bool { return within(unsafe.StringData(s), len(s), buf) }

// TestDecodedTopicOwnsItsMemory (issue 14, item 5b): a PUBLISH topic
// outlives its packet (topic aliases both ways, the retained store's keys),
// so it must not be a view into the packet body, as the payload is.
func TestDecodedTopicOwnsItsMemory(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, ProtocolVersion: 5, TopicName: "alias/topic",
		Payload: make([]byte, 1<<20)}
	if err := pk.PublishEncode(&buf); err != nil {
		t.Fatal(err)
	}
	fh, body, err := readFrame(bufio.NewReader(&buf), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := decodePublish(fh, body, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if stringWithin(in.topic, body) {
		t.Fatal("the topic is a view into the 1 MiB packet")
	}
	if !within(unsafe.SliceData(in.payload), len(in.payload), body) {
		t.Fatal("the payload was copied: it should share the packet's memory")
	}
}

// TestWillOwnsItsMemory (issue 14, item 5b): a will lives as long as its
// session, so nothing of it may be a view into the CONNECT it came in.
func TestWillOwnsItsMemory(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 5,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: "device-1", Clean: true,
			WillFlag: true, WillTopic: "will/topic", WillPayload: []byte("gone"),
			WillProperties: packets.Properties{ContentType: "text/plain", ResponseTopic: "reply/here", CorrelationData: []byte("c"),
				User: []packets.UserProperty{{Key: "k", Val: "v"}}}}}
	if err := pk.ConnectEncode(&buf); err != nil {
		t.Fatal(err)
	}
	fh, body, err := readFrame(bufio.NewReader(&buf), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := packets.Packet{FixedHeader: fh}
	if err := decodeBody(&got, body); err != nil {
		t.Fatal(err)
	}
	m := willMessage(got.Connect, "device-1")
	views := map[string]bool{
		"topic":            stringWithin(m.Topic, body),
		"payload":          within(unsafe.SliceData(m.Payload), len(m.Payload), body),
		"content type":     stringWithin(m.ContentType, body),
		"response topic":   stringWithin(m.ResponseTopic, body),
		"correlation data": within(unsafe.SliceData(m.CorrelationData), len(m.CorrelationData), body),
		"user property":    len(m.Headers) != 1 || stringWithin(m.Headers[0].Key, body) || stringWithin(m.Headers[0].Value, body),
	}
	for what, view := range views {
		if view {
			t.Errorf("the will's %s is a view into the CONNECT", what)
		}
	}
}
