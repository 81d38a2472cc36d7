package envelope

import (
	"encoding/json"
	"testing"
)

// TestControlWire: every control object as docs/PROTOCOLS.md shows it, byte
// for byte (the clients depend on it), and read back into the same Control.
func TestControlWire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Control
		wire string
	}{
		{Control{Type: TypeSubscribed, Head: "e-9"}, `{"type":"subscribed","head":"e-9"}`},
		{Control{Type: TypeGap, Cursor: "e-1", Head: "e-9"}, `{"type":"gap","cursor":"e-1","head":"e-9"}`},
		{Control{Type: TypeClose, Reason: "slow_consumer"}, `{"type":"close","reason":"slow_consumer"}`},
		{Control{Type: TypeAck, ID: "1", Cursor: "e-3"}, `{"type":"ack","id":"1","cursor":"e-3"}`},
		{Control{Type: TypeSubscribed, ID: "2", Head: "e-9", Gap: true}, `{"type":"subscribed","id":"2","head":"e-9","gap":true}`},
		{Control{Type: TypeUnsubscribed, ID: "3"}, `{"type":"unsubscribed","id":"3"}`},
		{Control{Type: TypePong, ID: "4"}, `{"type":"pong","id":"4"}`},
		{Control{Type: TypeError, ID: "5", Code: CodeBadRequest, Message: "topics required"},
			`{"type":"error","id":"5","code":"bad_request","message":"topics required"}`},
	} {
		if got := string(tc.c.Encode()); got != tc.wire {
			t.Errorf("%+v encodes as %s, want %s", tc.c, got, tc.wire)
		}
		var back Control
		if err := json.Unmarshal([]byte(tc.wire), &back); err != nil || back != tc.c {
			t.Errorf("%s reads back as %+v (%v)", tc.wire, back, err)
		}
	}
}
