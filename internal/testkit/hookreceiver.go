package testkit

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"streamhub/internal/testkit/poll"
	"streamhub/internal/webhook"
)

// HookMode is how a HookReceiver answers.
type HookMode int

// A receiver is down (nothing listens on its port), refusing (503), slow
// (answers only once the sender gave up) or taking events (204).
const (
	HookDown HookMode = iota
	HookRefusing
	HookSlow
	HookOK
)

// HookReceiver is a webhook receiver for tests on a port of its own that
// stays the same while it goes down and comes back. It checks each
// request's signature and headers against the body, and keeps the events
// it took, in order of arrival.
type HookReceiver struct {
	URL    string
	t      testing.TB
	secret string
	addr   string
	stop   chan struct{} // ends slow answers at cleanup

	mu       sync.Mutex
	mode     HookMode
	srv      *http.Server
	events   []webhook.Event
	requests map[HookMode]int
	problems []string
}

// NewHookReceiver reserves a port and starts down; the test's end stops it.
func NewHookReceiver(t testing.TB, secret string) *HookReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := &HookReceiver{URL: "http://" + addr + "/hook", t: t, secret: secret, addr: addr, stop: make(chan struct{}),
		requests: map[HookMode]int{}}
	t.Cleanup(func() {
		close(r.stop)
		r.Set(HookDown)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, p := range r.problems {
			t.Errorf("webhook receiver: %s", p)
		}
	})
	return r
}

// Set changes how the receiver answers from the next request on.
func (r *HookReceiver) Set(mode HookMode) {
	r.t.Helper()
	r.mu.Lock()
	r.mode = mode
	srv := r.srv
	if mode == HookDown {
		r.srv = nil
	}
	r.mu.Unlock()
	if mode == HookDown {
		if srv != nil {
			srv.Close()
		}
		return
	}
	if srv != nil {
		return
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatalf("webhook receiver: listen again on %s: %v", r.addr, err)
	}
	srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.problem("serve: " + err.Error())
		}
	}()
}

func (r *HookReceiver) problem(p string) {
	r.mu.Lock()
	r.problems = append(r.problems, p)
	r.mu.Unlock()
}

func (r *HookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	var ev webhook.Event
	switch {
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		r.problem("not a JSON POST: " + req.Method + " " + req.Header.Get("Content-Type"))
	case r.secret != "" && !webhook.Verify(r.secret, body, req.Header.Get(webhook.HeaderSignature)):
		r.problem("bad signature " + req.Header.Get(webhook.HeaderSignature) + " on " + string(body))
	case json.Unmarshal(body, &ev) != nil:
		r.problem("not an event: " + string(body))
	case req.Header.Get(webhook.HeaderID) != ev.ID || req.Header.Get(webhook.HeaderEvent) != ev.Event ||
		req.Header.Get(webhook.HeaderTimestamp) != strconv.FormatInt(ev.Time.Unix(), 10):
		r.problem("headers disagree with the body: " + string(body))
	}
	r.mu.Lock()
	mode := r.mode
	r.requests[mode]++
	if mode == HookOK {
		r.events = append(r.events, ev)
	}
	r.mu.Unlock()
	switch mode {
	case HookOK:
		w.WriteHeader(http.StatusNoContent)
	case HookSlow:
		select { // until the sender's timeout cuts the request
		case <-req.Context().Done():
		case <-r.stop:
		}
	default:
		http.Error(w, "not now", http.StatusServiceUnavailable)
	}
}

// Requests counts the requests answered in mode.
func (r *HookReceiver) Requests(mode HookMode) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[mode]
}

// Events returns the events taken so far.
func (r *HookReceiver) Events() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Event(nil), r.events...)
}

// Wait waits until at least n events were taken and returns them.
func (r *HookReceiver) Wait(t testing.TB, n int) []webhook.Event {
	t.Helper()
	poll.Eventually(t, 30*time.Second, strconv.Itoa(n)+" webhook events", func() bool { return len(r.Events()) >= n })
	return r.Events()
}

// WaitRequests waits until at least n requests were answered in mode.
func (r *HookReceiver) WaitRequests(t testing.TB, mode HookMode, n int) {
	t.Helper()
	poll.Eventually(t, 30*time.Second, strconv.Itoa(n)+" webhook requests", func() bool { return r.Requests(mode) >= n })
}
