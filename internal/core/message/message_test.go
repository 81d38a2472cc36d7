package message

import (
	"sync"
	"testing"
)

func TestEncodedOnce(t *testing.T) {
	t.Parallel()
	m := &Message{Topic: "a", Payload: []byte("x")}
	var calls int
	var mu sync.Mutex
	enc := func(m *Message) []byte {
		mu.Lock()
		calls++
		mu.Unlock()
		return []byte("enc:" + m.Topic)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := string(m.Encoded(FormatSSE, enc)); got != "enc:a" {
				t.Errorf("got %q", got)
			}
		}()
	}
	wg.Wait()
	m.Encoded(FormatSSE, enc)
	mu.Lock()
	defer mu.Unlock()
	if calls > 8 || calls < 1 {
		t.Fatalf("encoder called %d times", calls)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []Cursor{{}, {Epoch: "k2j4", Seq: 1}, {Epoch: "a-b", Seq: 1 << 63}} {
		got, err := ParseCursor(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCursor(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
	for _, bad := range []string{"x", "-1", "e-", "e-x"} {
		if _, err := ParseCursor(bad); err == nil {
			t.Errorf("ParseCursor(%q) accepted", bad)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "k2j4-1", "a-b-18446744073709551615", "-", "x-y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || again != c {
			t.Fatalf("%q parsed to %v which does not round-trip: %v %v", s, c, again, err)
		}
	})
}

// TestCursorIs: Is agrees with String, and allocates nothing.
func TestCursorIs(t *testing.T) {
	cursors := []Cursor{{}, {Epoch: "e1", Seq: 0}, {Epoch: "e1", Seq: 7}, {Epoch: "ab-cd", Seq: 18446744073709551615}, {Seq: 3}}
	for _, c := range cursors {
		for _, other := range cursors {
			if got, want := c.Is(other.String()), c.String() == other.String(); got != want {
				t.Errorf("%#v.Is(%q) = %v, want %v", c, other.String(), got, want)
			}
		}
		for _, s := range []string{"e1-", "e1-07", "e1+7", "e1-7x", "-7"} {
			if c.Is(s) != (c.String() == s) {
				t.Errorf("%#v.Is(%q) disagrees with String", c, s)
			}
		}
	}
	c := Cursor{Epoch: "epoch", Seq: 123456}
	if n := testing.AllocsPerRun(100, func() { c.Is("epoch-123456") }); n != 0 {
		t.Errorf("Is allocates %v times", n)
	}
}
