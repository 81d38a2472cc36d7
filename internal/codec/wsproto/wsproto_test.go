package wsproto

import (
	"bytes"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	good := []string{
		`{"op":"pub","topic":"a/b","payload":"25"}`,
		`{"op":"pub","topic":"a","payload":"AAE=","encoding":"base64"}`,
		`{"op":"sub","topics":["a/#","+/x"],"id":"1"}`,
		`{"op":"sub","topic":"a","cursor":"e-4"}`,
		`{"op":"unsub","topics":["a/#"]}`,
		`{"op":"ping"}`,
	}
	for _, g := range good {
		if _, err := Decode([]byte(g)); err != nil {
			t.Errorf("Decode(%s): %v", g, err)
		}
	}
	bad := []string{
		``, `[]`, `{}`, `{"op":"nope"}`,
		`{"op":"pub","topic":"a/#"}`,
		`{"op":"pub","topic":"a","payload":"!!","encoding":"base64"}`,
		`{"op":"pub","topic":"a","encoding":"rot13"}`,
		`{"op":"sub"}`, `{"op":"sub","topics":["a/#/b"]}`,
		`{"op":"sub","topics":["a"],"cursor":"nocursor"}`,
	}
	for _, b := range bad {
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("Decode(%s) accepted", b)
		}
	}
	r, _ := Decode([]byte(`{"op":"pub","topic":"a","payload":"AAE=","encoding":"base64"}`))
	m, err := r.Message()
	if err != nil || !bytes.Equal(m.Payload, []byte{0, 1}) {
		t.Fatalf("payload %q %v", m.Payload, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"op":"pub","topic":"a/b","payload":"25"}`))
	f.Add([]byte(`{"op":"sub","topics":["a/#"],"cursor":"e-1"}`))
	f.Add([]byte(`{"op":"pub","topic":"a","payload":"AAE=","encoding":"base64"}`))
	f.Add([]byte(`{"op":"ping","id":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		if r.Op == OpPublish {
			if _, err := r.Message(); err != nil {
				t.Fatalf("validated request fails to build a message: %v", err)
			}
		}
	})
}
