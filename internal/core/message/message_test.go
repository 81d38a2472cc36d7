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
