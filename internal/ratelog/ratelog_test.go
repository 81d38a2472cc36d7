package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimitsEachMessageAndCountsTheRest(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour, 2)
	for range 10 {
		l.Info("malformed packet", "remote", "127.0.0.1:1")
	}
	l.Info("refused", "remote", "127.0.0.1:2")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 2 malformed lines and 1 refused, got %d:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "refused") {
		t.Fatalf("a second message has a rate of its own: %q", lines[2])
	}
}

func TestSaysHowManyWereLeftOut(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 20*time.Millisecond, 1)
	for range 5 {
		l.Info("refused")
	}
	time.Sleep(30 * time.Millisecond)
	l.Info("refused")
	if !strings.Contains(buf.String(), "suppressed=4") {
		t.Fatalf("want suppressed=4 on the next line, got:\n%s", buf.String())
	}
}

func TestBelowLevelCostsNothing(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), time.Hour, 1)
	l.Info("x")
	if buf.Len() != 0 || len(l.kinds) != 0 {
		t.Fatal("a disabled level must not log or track")
	}
}
