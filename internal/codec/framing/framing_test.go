package framing

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, d *Decoder) (msgs []string, errs []error) {
	t.Helper()
	for {
		m, err := d.Next()
		if errors.Is(err, io.EOF) {
			return msgs, errs
		}
		if err != nil {
			errs = append(errs, err)
			if errors.Is(err, ErrTooLong) {
				continue
			}
			return msgs, errs
		}
		msgs = append(msgs, string(m))
	}
}

func TestLines(t *testing.T) {
	t.Parallel()
	d := NewDecoder(strings.NewReader("a\r\nb\n\nccccccccccccc\nd\r\r\ne"), Lines, 4)
	msgs, errs := readAll(t, d)
	if strings.Join(msgs, "|") != "a|b||d\r|e" || len(errs) != 1 || !errors.Is(errs[0], ErrTooLong) {
		t.Fatalf("got %q %v", msgs, errs)
	}
}

func TestLongLineAcrossBuffer(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200<<10)
	d := NewDecoder(strings.NewReader(long+"\nafter\n"+long+"\n"), Lines, 100<<10)
	msgs, errs := readAll(t, d)
	if strings.Join(msgs, "|") != "after" || len(errs) != 2 {
		t.Fatalf("got %d msgs %v", len(msgs), errs)
	}
	d = NewDecoder(strings.NewReader(long+"\n"), Lines, 300<<10)
	if msgs, _ := readAll(t, d); len(msgs) != 1 || msgs[0] != long {
		t.Fatal("long line under the limit not returned whole")
	}
}

func TestLengthRoundTrip(t *testing.T) {
	t.Parallel()
	var stream []byte
	payloads := [][]byte{{}, []byte("x"), bytes.Repeat([]byte{0, 255}, 1<<19)}
	for _, p := range payloads {
		stream = Append(stream, Length, p)
	}
	d := NewDecoder(bytes.NewReader(stream), Length, 2<<20)
	for _, p := range payloads {
		got, err := d.Next()
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	}
	if _, err := d.Next(); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if _, err := NewDecoder(bytes.NewReader([]byte{0, 0, 1, 0}), Length, 10).Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal(err)
	}
	if _, err := NewDecoder(bytes.NewReader([]byte{0, 0, 0, 5, 1}), Length, 10).Next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatal("truncated frame not reported")
	}
}

// FuzzDecoders feeds arbitrary streams to every framing: no panics, no
// message over the limit, and lines never contain a line feed.
func FuzzDecoders(f *testing.F) {
	f.Add([]byte("a\r\nb\n\nc"), uint8(0))
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0}, uint8(1))
	f.Add([]byte("raw bytes \x00\xff"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		m := Mode(mode % 3)
		d := NewDecoder(bytes.NewReader(data), m, 16)
		for range len(data) + 2 {
			msg, err := d.Next()
			if err != nil {
				if errors.Is(err, ErrTooLong) {
					continue
				}
				return
			}
			if len(msg) > 16 {
				t.Fatalf("%v message of %d bytes over the limit", m, len(msg))
			}
			if m == Lines && bytes.IndexByte(msg, '\n') >= 0 {
				t.Fatalf("line contains LF: %q", msg)
			}
		}
	})
}
