package envelope

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

// marshalled is the envelope as encoding/json makes it: the reference
// AppendJSON must match byte for byte.
func marshalled(t *testing.T, m *message.Message, retained bool) []byte {
	b, err := json.Marshal(From(m, retained))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkAppendJSON(t *testing.T, m *message.Message, retained bool) {
	t.Helper()
	want := marshalled(t, m, retained)
	if got := AppendJSON([]byte("x"), m, retained); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("AppendJSON\n got %s\nwant %s", got, want)
	}
}

// TestAppendJSONIsMarshal: the hand-written encoder writes what
// encoding/json writes, escapes and all.
func TestAppendJSONIsMarshal(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 17, 0, 0, 123000000, time.FixedZone("x", 3600))
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, m := range []*message.Message{
		{Topic: "t/x", Payload: []byte("25"), Seq: 3, Epoch: "e", Time: now},
		{Topic: "a<b>&\"c\\", Payload: []byte("\x00\b\f\n\r\t\x1f\u2028\u2029<>&é😀"), Seq: 1 << 40, Epoch: "k2j4x9", Time: now,
			ContentType: "text/plain", Headers: []message.Header{{Key: "k", Value: "v\n"}, {Key: "\xff", Value: ""}}},
		{Topic: "bin", Payload: all, Time: time.Unix(0, 1)},
		{Payload: nil, Time: now},
	} {
		checkAppendJSON(t, m, false)
		checkAppendJSON(t, m, true)
	}
}

// TestAppendJSONAllocatesNothing: encoding into a buffer with room makes
// no garbage, where encoding/json made several objects per message.
func TestAppendJSONAllocatesNothing(t *testing.T) {
	m := &message.Message{Topic: "bench/x", Payload: bytes.Repeat([]byte("x"), 100), Seq: 42, Epoch: "e", Time: time.Now()}
	buf := make([]byte, 0, 4096)
	if allocs := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], m, false) }); allocs > 0 {
		t.Fatalf("%.1f allocations per envelope", allocs)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("t/x", []byte("25"), "text/plain", "k", "v", uint64(3), int64(1764000000123456789), true)
	f.Add("a<b>&", []byte{0xff, 0, '\n'}, "", "", "", uint64(0), int64(0), false)
	f.Add("\u2028", []byte("\u2029\"\\"), "\x01", "\x7f", "\xe2\x80", uint64(1<<63), int64(-1), false)
	f.Fuzz(func(t *testing.T, topic string, payload []byte, contentType, key, value string, seq uint64, nanos int64, retained bool) {
		m := &message.Message{Topic: topic, Payload: payload, ContentType: contentType, Seq: seq, Epoch: "e",
			Time: time.Unix(0, nanos)}
		if key != "" || value != "" {
			m.Headers = []message.Header{{Key: key, Value: value}}
		}
		checkAppendJSON(t, m, retained)
	})
}
