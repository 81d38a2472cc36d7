package webrtc

import (
	"fmt"
	"log/slog"

	"github.com/pion/logging"

	"streamhub/internal/ratelog"
)

// pionLogs routes pion's logs into the server's rate-limited log of what
// peers cause, instead of pion's own writer on stderr. Pion logs per
// packet and per peer (a bad STUN message, a vanished candidate), so a
// flood of peers would flood the log: each pion component's lines at each
// level share one rate, and the next line says how many were left out.
// Pion's errors are mostly what a peer caused, so they are warnings; its
// info is debug detail.
type pionLogs struct{ log *ratelog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log, debug: "pion debug: " + scope, warn: "pion: " + scope}
}

// pionLogger logs the text pion formats as a field: the message is one
// per component and level, the unit of the rate.
type pionLogger struct {
	log         *ratelog.Logger
	debug, warn string
}

func (l pionLogger) at(level slog.Level, msg string) {
	kind := l.warn
	if level < slog.LevelWarn {
		kind = l.debug
	}
	l.log.Log(level, kind, "detail", msg)
}

func (l pionLogger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(level) {
		l.at(level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  {}
func (l pionLogger) Tracef(format string, args ...any) {}
func (l pionLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.atf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.atf(slog.LevelWarn, format, args...) }
