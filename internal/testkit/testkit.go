// Package testkit starts real streamhub servers for tests and holds the
// helpers tests share: Eventually instead of sleeps, and a small SSE reader.
// The helpers that need no server live in leaf packages below it, so that
// the tests of the packages the server imports can use them too: poll
// (waiting), ports (free and refused ports), clock (a fake clock) and
// natstest (a NATS server).
package testkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/server"
	"streamhub/internal/testkit/natstest"
	"streamhub/internal/testkit/poll"
)

// Server is a streamhub server running in-process on a free port.
type Server struct {
	*server.Server
	Config config.Config
	Engine Engine // what StartOn was asked for
	URL    string // http://127.0.0.1:PORT
	WSURL  string // ws://127.0.0.1:PORT
	closed bool
}

// Engine is where a test server keeps its messages, retained messages and
// MQTT sessions.
type Engine string

const (
	// Memory is what a user gets by default: no data directory, nothing
	// kept across a restart.
	Memory Engine = "memory"
	// Pebble keeps them in a data directory (a temporary one; mutate may
	// name another, to start a server again on the same one).
	Pebble Engine = "pebble"
	// JetStream makes the server a one-node cluster on a NATS server run
	// in the test's process (natstest).
	JetStream Engine = "jetstream"
)

// EachEngine runs test once per engine as a parallel subtest named after
// it; with no engines named, on the local ones, memory and pebble.
// JetStream is for the tests that name it, whose behaviour holds there
// too: its stream keeps what the memory windows lose, and a node hears of
// its own publish only after the publisher has its acknowledgement.
func EachEngine(t *testing.T, test func(t *testing.T, e Engine), engines ...Engine) {
	t.Helper()
	if len(engines) == 0 {
		engines = []Engine{Memory, Pebble}
	}
	for _, e := range engines {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			test(t, e)
		})
	}
}

// Start runs a server the way a user does by default (in memory, no data
// directory) on 127.0.0.1:0 (or the address mutate sets), stopped when
// the test ends. A test that needs what a data directory keeps asks for
// it: StartOn(t, Pebble, mutate).
func Start(t testing.TB, mutate func(*config.Config), opts ...server.Option) *Server {
	t.Helper()
	return StartOn(t, Memory, mutate, opts...)
}

// StartOn runs a server like Start on engine e, set up before mutate runs
// (so that mutate can still change it), built with opts.
func StartOn(t testing.TB, e Engine, mutate func(*config.Config), opts ...server.Option) *Server {
	t.Helper()
	cfg := config.Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr, cfg.MQTT.Tlsaddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.RTMP.Addr, cfg.RTSP.Addr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.WebRTC.UDP = "127.0.0.1:0"
	cfg.MQTT.Sys = 0 // $SYS messages would crowd small history windows
	cfg.Shutdown = 5 * time.Second
	switch e {
	case Memory:
	case Pebble:
		cfg.Data = t.TempDir()
	case JetStream:
		cfg.Cluster.URLs, cfg.Cluster.Node = []string{natstest.Start(t, nil).ClientURL()}, "a"
	default:
		t.Fatalf("testkit: unknown engine %q", e)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	tw := &testWriter{t: t}
	t.Cleanup(tw.stop) // runs after the server's own cleanup below
	log := slog.New(slog.NewTextHandler(tw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := &Server{Server: srv, Config: cfg, Engine: e, URL: "http://" + srv.Addr(), WSURL: "ws://" + srv.Addr()}
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// Stop shuts the server down gracefully, once.
func (s *Server) Stop(t testing.TB) {
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// testWriter sends server logs to the test log until the test ends.
type testWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// Eventually polls cond until it holds or timeout (at least poll.MinWait)
// passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Eventually(t, timeout, what, cond)
}

// Progressing polls progress until it reports done, failing only when
// its count has not moved for stall: for bulk work whose total time
// depends on how busy the machine is, where only a halt is a failure.
func Progressing(t testing.TB, stall time.Duration, what string, progress func() (n int64, done bool)) {
	t.Helper()
	last, lastAt := int64(-1), time.Now()
	for {
		n, done := progress()
		if done {
			return
		}
		if n != last {
			last, lastAt = n, time.Now()
		} else if time.Since(lastAt) > stall {
			t.Fatalf("%s: stuck at %d for %v", what, n, stall)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitFilters waits until the hub's index holds at least n subscribed
// filters: the way to know that subscribers are in place.
func (s *Server) WaitFilters(t testing.TB, n int) {
	t.Helper()
	Eventually(t, 10*time.Second, fmt.Sprintf("%d subscribed filters", n), func() bool {
		return s.Hub().Stats().Filters >= n
	})
}

// WaitSubscribers waits until at least n subscriptions hold exactly filter.
func (s *Server) WaitSubscribers(t testing.TB, filter string, n int) {
	t.Helper()
	Eventually(t, 10*time.Second, fmt.Sprintf("%d subscribers on %q", n, filter), func() bool {
		return s.Hub().Subscribers(filter) >= n
	})
}

// Event is one Server-Sent Event as a client sees it.
type Event struct {
	ID, Event, Topic, Encoding, Data string
}

// SSEReader parses an event stream the way the EventSource spec does,
// keeping the unknown fields streamhub adds for non-browser clients.
type SSEReader struct {
	r      *bufio.Reader
	LastID string
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader { return &SSEReader{r: bufio.NewReaderSize(r, 1<<16)} }

// Next returns the next dispatched event (one with data).
func (s *SSEReader) Next() (Event, error) {
	var ev Event
	var data strings.Builder
	hasData := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !hasData {
				ev = Event{}
				continue
			}
			ev.Data = strings.TrimSuffix(data.String(), "\n")
			if ev.Event == "" {
				ev.Event = "message"
			}
			ev.ID = s.LastID
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			s.LastID = value
		case "event":
			ev.Event = value
		case "topic":
			ev.Topic = value
		case "encoding":
			ev.Encoding = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		}
	}
}

// Get issues a GET with an Accept header and fails the test on error.
func Get(t testing.TB, ctx context.Context, url, accept string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
