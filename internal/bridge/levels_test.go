package bridge

import (
	"testing"
	"time"
)

// TestLevelChooser: the bridge level falls back to plain 3.1.1 once a
// reached broker dropped it twice in a row, returns after a plain failure
// too, and a connection that lasted settles the choice.
func TestLevelChooser(t *testing.T) {
	t.Parallel()
	l := levelChooser{bridge: true}
	if l.failed(false, 0) || !l.bridge {
		t.Fatal("a broker not reached changed the level")
	}
	if l.failed(true, time.Second) || !l.bridge {
		t.Fatal("one dropped bridge connection (a broker stopping) changed the level")
	}
	if !l.failed(true, 0) || l.bridge {
		t.Fatal("a second dropped bridge connection did not fall back to plain at once")
	}
	if l.failed(true, 0) || !l.bridge {
		t.Fatal("a failing plain connection did not bring the bridge level back, after the back-off")
	}
	l.failed(true, 0)
	if !l.failed(true, 0) || l.bridge {
		t.Fatal("two more dropped bridge connections did not fall back")
	}
	if l.failed(true, time.Minute) || l.bridge || !l.settled {
		t.Fatal("a lasting plain connection did not settle the level")
	}
	if l.failed(true, 0) || l.bridge {
		t.Fatal("a settled level changed")
	}
}
