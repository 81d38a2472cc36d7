package webrtc

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"streamhub/internal/ratelog"
)

// TestPionWarningsAreRateLimited: a flood of pion's warnings, each with
// its own text as per peer ones have, logs a few lines and says how many
// it left out; another component keeps a rate of its own.
func TestPionWarningsAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	logs := pionLogs{ratelog.New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 3)}
	ice := logs.NewLogger("ice")
	for i := range 1000 {
		ice.Warnf("discarded a STUN message from 127.0.0.1:%d", 1000+i)
	}
	logs.NewLogger("sctp").Error("association failed")
	ice.Debugf("below the level: %d", 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 3 ice lines and 1 sctp line, got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[3], "pion: sctp") || !strings.Contains(lines[0], "127.0.0.1:1000") {
		t.Fatalf("lines:\n%s", buf.String())
	}
}
