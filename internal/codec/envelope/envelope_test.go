package envelope

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"streamhub/internal/core/message"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, p := range [][]byte{nil, []byte("25"), []byte(`{"a":1}`), []byte("a\nb\r\n"), all} {
		m := &message.Message{Topic: "t/x", Payload: p, Seq: 3, Epoch: "e", Time: time.Now()}
		var e Envelope
		if err := json.Unmarshal(Marshal(m, false), &e); err != nil {
			t.Fatal(err)
		}
		got, err := e.PayloadBytes()
		if err != nil || !bytes.Equal(got, p) || e.ID != "e-3" || e.Topic != "t/x" {
			t.Fatalf("round trip of %q: %+v %q %v", p, e, got, err)
		}
	}
}
