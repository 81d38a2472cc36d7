package store

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, time.Now().UnixNano())
	m := &message.Message{Topic: "a/b", Payload: []byte{0, 1, 255}, ContentType: "x/y", Retain: true, QoS: 2,
		Headers: []message.Header{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}, Time: now, Expires: now.Add(time.Hour),
		ResponseTopic: "r", CorrelationData: []byte("c"), Origin: "o", UTF8: true, Seq: 42, Epoch: "e"}
	got, err := decodeMessage(encodeMessage(nil, m), "e")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Headers, m.Headers) || got.Topic != m.Topic || !bytes.Equal(got.Payload, m.Payload) ||
		got.Seq != 42 || !got.Time.Equal(now) || !got.Expires.Equal(m.Expires) || got.QoS != 2 || !got.Retain ||
		!got.UTF8 || got.Origin != "o" || got.ResponseTopic != "r" || string(got.CorrelationData) != "c" || got.ContentType != "x/y" {
		t.Fatalf("round trip: %+v", got)
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(nil, &message.Message{Topic: "a", Payload: []byte("x"), Seq: 1, Time: time.Unix(1, 0)}))
	f.Add(encodeMessage(nil, &message.Message{Topic: "t", Headers: []message.Header{{Key: "k", Value: "v"}}}))
	f.Add([]byte{1, 0, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b, "e")
		if err != nil {
			return
		}
		again, err := decodeMessage(encodeMessage(nil, m), "e")
		if err != nil || again.Topic != m.Topic || !bytes.Equal(again.Payload, m.Payload) {
			t.Fatalf("re-encoding a decoded record fails: %v", err)
		}
		checkPageDecoding(t, b, m)
	})
}

// checkPageDecoding decodes record b into a replay page three times, the
// second time dropped, and wants the same message as decodeMessage's each
// time it is kept: shared strings and buffers change nothing.
func checkPageDecoding(t *testing.T, b []byte, want *message.Message) {
	page := pageDecoder{epoch: "e"}
	for i, keep := range []bool{true, false, true} {
		m, err := page.decode(b, func(*message.Message) bool { return keep })
		if err != nil || (m != nil) != keep {
			t.Fatalf("page decode %d: %v, %v", i, m, err)
		}
		if m != nil && !reflect.DeepEqual(m, want) {
			t.Fatalf("page decode %d: %+v, want %+v", i, m, want)
		}
	}
	if len(page.slab) != 2 || len(page.buf) != 2*len(b) {
		t.Fatalf("page holds %d messages in %d bytes after keeping 2 of %d bytes", len(page.slab), len(page.buf), len(b))
	}
}
