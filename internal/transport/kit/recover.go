package kit

import (
	"fmt"
	"log/slog"
	"runtime/debug"
)

// PanicError is a panic in a writer's code (an encoder, a write, a
// heartbeat), recovered where the writer runs, on its own goroutine or on
// one of the hub's walkers, so that it ends only its own subscriber, whose
// transport then cleans up as after any failed write.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("writer panicked: %v", e.Value) }

// recovered turns a recovered panic value (nil: none) into a *PanicError
// and logs it, rate-limited: a client that can trigger it can trigger it
// at will.
func (w *Writer) recovered(v any) error {
	if v == nil {
		return nil
	}
	err := &PanicError{Value: v, Stack: debug.Stack()}
	args := []any{"panic", fmt.Sprint(v), "stack", string(err.Stack)}
	if w.Log != nil {
		w.Log.Log(slog.LevelError, "writer panicked; its subscriber is disconnected", args...)
	} else {
		slog.Error("writer panicked; its subscriber is disconnected", args...)
	}
	return err
}
