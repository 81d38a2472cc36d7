package tcptext

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCommands(t *testing.T) {
	t.Parallel()
	in := "PUB a/b 5\nhello\r\nsub a/# b/+\r\n\nping\nPUB with space/t 0\n\nUNSUB a/#\nPUB x 3\nabc\nSUB a b FROM e-4\ncursors\n"
	r := NewReader(strings.NewReader(in), 100)
	want := []Command{
		{Verb: VerbPub, Topic: "a/b", Payload: []byte("hello")},
		{Verb: VerbSub, Filters: []string{"a/#", "b/+"}},
		{Verb: VerbPing},
		{Verb: VerbPub, Topic: "with space/t", Payload: []byte{}},
		{Verb: VerbUnsub, Filters: []string{"a/#"}},
		{Verb: VerbPub, Topic: "x", Payload: []byte("abc")},
		{Verb: VerbSub, Filters: []string{"a", "b"}},
		{Verb: VerbCursors},
	}
	for _, w := range want {
		c, err := r.Next()
		if err != nil || c.Verb != w.Verb || c.Topic != w.Topic || string(c.Payload) != string(w.Payload) ||
			strings.Join(c.Filters, ",") != strings.Join(w.Filters, ",") {
			t.Fatalf("got %+v %v, want %+v", c, err, w)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

func TestAppendMsg(t *testing.T) {
	t.Parallel()
	if got := string(AppendMsg(nil, "a b/c", []byte("hi"), "")); got != "MSG a b/c 2\nhi\n" {
		t.Fatalf("%q", got)
	}
	if got := string(AppendMsg(nil, "a b/c", []byte("hi"), "k2j4x9-7")); got != "MSG a b/c 2 k2j4x9-7\nhi\n" {
		t.Fatalf("%q", got)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	r := NewReader(strings.NewReader("FLY\nPUB big 10\n0123456789\nPUB ok 2\nhi\nPUB bad 2\nhello\n"), 5)
	var e *Error
	if _, err := r.Next(); !errors.As(err, &e) || e.Code != "unknown_command" || e.Fatal {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.As(err, &e) || e.Code != "payload_too_large" || e.Fatal {
		t.Fatal(err)
	}
	if c, err := r.Next(); err != nil || string(c.Payload) != "hi" {
		t.Fatalf("stream lost after a skipped payload: %v", err)
	}
	if _, err := r.Next(); !errors.As(err, &e) || e.Code != "framing" || !e.Fatal {
		t.Fatal(err)
	}
	if _, err := NewReader(strings.NewReader("PUB t x\n"), 5).Next(); !errors.As(err, &e) || !e.Fatal {
		t.Fatal(err)
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"PUB a 1\nx\n", "SUB a/#\n", "PING\r\n", "PUB a 99999999999\n", "UNSUB\n", "PUB a -1\n", "x y z\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)), 64)
		for range len(data) + 1 {
			c, err := r.Next()
			var e *Error
			if errors.As(err, &e) && !e.Fatal {
				continue
			}
			if err != nil {
				return
			}
			if len(c.Payload) > 64 {
				t.Fatalf("payload of %d bytes over the limit", len(c.Payload))
			}
		}
	})
}
