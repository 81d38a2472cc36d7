package sse

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"streamhub/internal/core/message"
)

// parse reads one event the way EventSource does, keeping streamhub's
// extra fields.
func parse(t *testing.T, b []byte) (id, topic, data string) {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		t.Fatalf("event not terminated: %q", b)
	}
	var buf strings.Builder
	encoding := ""
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n") {
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			id = value
		case "topic":
			topic = value
		case "encoding":
			encoding = value
		case "data":
			buf.WriteString(value + "\n")
		case "event":
		default:
			t.Fatalf("unexpected line %q in %q", line, b)
		}
	}
	data = strings.TrimSuffix(buf.String(), "\n")
	if encoding == "base64" {
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		data = string(raw)
	}
	return id, topic, data
}

func FuzzEventRoundTrip(f *testing.F) {
	for _, p := range []string{"", "25", "a\nb", "a\r\nb", "\n", "\x00\xff", "data: x\n\nid: y", "é"} {
		f.Add("iot/x", p)
	}
	f.Fuzz(func(t *testing.T, name, payload string) {
		m := &message.Message{Topic: name, Payload: []byte(payload), Seq: 7, Epoch: "e"}
		id, topic, data := parse(t, AppendEvent(nil, m, true, false))
		if id != "e-7" || data != payload {
			t.Fatalf("round trip of %q gave id %q data %q", payload, id, data)
		}
		if safeField(name) && topic != name {
			t.Fatalf("topic %q came back as %q", name, topic)
		}
	})
}
