package server

import (
	"context"
	"fmt"
)

// part is the shape of what the server starts: every transport, and
// anything else with goroutines or sockets of its own. New builds it;
// Start opens its sockets and goroutines; Close ends them and waits.
type part interface {
	Start(ctx context.Context) error
	Close()
}

// component is one part of the server with its name and lifetime.
type component struct {
	name  string
	start func(context.Context) error // nil: running once built
	// stop ends it; ctx bounds what a graceful stop may wait for (HTTP's
	// requests), and is done already when a start failed.
	stop    func(context.Context)
	running bool
	// built: New made it holding what must be released (hub
	// subscriptions) though it starts only in Start: stopped even if a
	// start before it failed.
	built bool
}

// components are the server's parts in the order they start: each one
// may use those before it, which are running while it starts and still
// running while it stops. They stop in the reverse order, on Shutdown or
// when one fails to start. Adding a part to the server is one line in New:
// components.add for a part, components.running for one that New built
// running (the store, the hub), components.built for one New built that
// Start starts (the bridges, subscribed in New).
type components struct {
	list []*component
}

// add appends p, started by start.
func (cs *components) add(name string, p part) {
	cs.addFunc(name, p.Start, func(context.Context) { p.Close() })
}

// addFunc appends a component given by its start and stop.
func (cs *components) addFunc(name string, start func(context.Context) error, stop func(context.Context)) {
	cs.list = append(cs.list, &component{name: name, start: start, stop: stop})
}

// built appends p, which New built holding resources and Start starts;
// it is stopped even when it never started.
func (cs *components) built(name string, p part) {
	cs.add(name, p)
	cs.list[len(cs.list)-1].built = true
}

// running appends a component that New built running; stop ends it.
func (cs *components) running(name string, stop func()) {
	cs.list = append(cs.list, &component{name: name, stop: func(context.Context) { stop() }, running: true})
}

// start starts every component not running yet, in order. When one fails
// it stops every running one, in reverse order, and returns the error.
func (cs *components) start(ctx context.Context) error {
	for _, c := range cs.list {
		if c.running {
			continue
		}
		if err := c.start(ctx); err != nil {
			cs.stop(failed())
			return fmt.Errorf("server: start %s: %w", c.name, err)
		}
		c.running = true
	}
	return nil
}

// stop stops every running component, in reverse order, each once.
func (cs *components) stop(ctx context.Context) {
	for i := len(cs.list) - 1; i >= 0; i-- {
		if c := cs.list[i]; c.running || c.built {
			c.running, c.built = false, false
			c.stop(ctx)
		}
	}
}

// failed is the context of stopping after a failed start or New: done
// already, since no client is there to wait for.
func failed() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
