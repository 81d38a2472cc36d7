package kit

import "time"

// Workers runs the spawned writers of one transport (Writer.Spawn) on
// goroutines that outlive a burst by a short idle time and take the next
// writer's run. A new goroutine starts on a small stack, and a writer's
// socket write runs at its edge: in WebSocket fan-out, where every burst
// spawned a goroutine, copying stacks as they grew took a third of the
// server's CPU. A worker keeps its grown stack; when no burst comes for
// idle it ends, so idle subscribers still hold no goroutine.
type Workers struct {
	tasks chan func()
	idle  time.Duration
}

// NewWorkers returns workers that end after idle without a task.
func NewWorkers(idle time.Duration) *Workers {
	return &Workers{tasks: make(chan func()), idle: idle}
}

// Go runs f on an idle worker, or on a new one if none is waiting; on a
// nil Workers it is a go statement.
func (p *Workers) Go(f func()) {
	if p == nil {
		go f()
		return
	}
	select {
	case p.tasks <- f:
	default:
		go p.work(f)
	}
}

func (p *Workers) work(f func()) {
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		f()
		t.Reset(p.idle)
		select {
		case f = <-p.tasks:
		case <-t.C:
			return
		}
	}
}
