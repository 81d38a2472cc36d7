package mqtt

import (
	"fmt"
	"runtime/debug"
	"time"
)

// timerHandle is a started timer, as time.AfterFunc returns it; tests
// start timers on a clock of their own (Server.afterFunc).
type timerHandle interface {
	Stop() bool
}

func realAfterFunc(d time.Duration, f func()) timerHandle { return time.AfterFunc(d, f) }

// startTimer runs f after d on a goroutine of its own. A panic there would
// take every connection down with the process: it is logged with the
// session instead, as the last line of defence against a bug (the timers'
// functions re-check the session's state under its lock, so that none
// should ever panic).
func (s *Server) startTimer(d time.Duration, ss *session, what string, f func()) timerHandle {
	return s.afterFunc(d, func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("MQTT timer panicked", "transport", "mqtt", "timer", what, "client", ss.clientID(),
					"owner", ss.owner, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}()
		f()
	})
}
