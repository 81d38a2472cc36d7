// Package ratelog logs events that a remote peer can cause at will
// (refusals, malformed packets, accept failures) without letting a flood of
// them flood the log: each kind of event is logged at most at a steady rate,
// and the next line logged says how many were left out meanwhile.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Logger rate-limits log lines per message text.
type Logger struct {
	log   *slog.Logger
	every time.Duration
	burst int

	mu    sync.Mutex
	kinds map[string]*kind
}

type kind struct {
	limiter    *rate.Limiter
	suppressed int
}

// maxKinds bounds the map: messages are constant strings in practice, so
// this only guards against a caller that builds them from input.
const maxKinds = 256

// New logs each message at most burst times at once and then once per
// every.
func New(log *slog.Logger, every time.Duration, burst int) *Logger {
	return &Logger{log: log, every: every, burst: burst, kinds: map[string]*kind{}}
}

// Log writes msg at level unless that message is over its rate.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	l.mu.Lock()
	k := l.kinds[msg]
	if k == nil {
		if len(l.kinds) >= maxKinds {
			clear(l.kinds)
		}
		k = &kind{limiter: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.kinds[msg] = k
	}
	if !k.limiter.Allow() {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.suppressed = 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.log.Log(ctx, level, msg, args...)
}

// Enabled reports whether lines at level are logged at all, so a caller
// can skip formatting them.
func (l *Logger) Enabled(level slog.Level) bool { return l.log.Enabled(context.Background(), level) }

// Info logs at info level, rate-limited.
func (l *Logger) Info(msg string, args ...any) { l.Log(slog.LevelInfo, msg, args...) }

// Error logs at error level, rate-limited.
func (l *Logger) Error(msg string, args ...any) { l.Log(slog.LevelError, msg, args...) }
