package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/quote"
)

// The headers of every request besides Content-Type: application/json.
const (
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256 of the body
	// under the hook's secret (absent without a secret).
	HeaderSignature = "X-Streamhub-Signature"
	// HeaderID is the event's id, the same on every attempt.
	HeaderID = "X-Streamhub-Id"
	// HeaderEvent is the event's kind.
	HeaderEvent = "X-Streamhub-Event"
	// HeaderTimestamp is when the event happened, in Unix seconds (also
	// in the signed body, as "time").
	HeaderTimestamp = "X-Streamhub-Timestamp"
	// HeaderAttempt counts the attempts at this event, from 1.
	HeaderAttempt = "X-Streamhub-Attempt"
)

// Sign is the HeaderSignature of body under secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's under secret, in constant time.
func Verify(secret string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// hook is one receiver, its queue and its counters.
type hook struct {
	cfg   Hook
	log   *slog.Logger
	queue backlog
	wake  chan struct{}

	delivered, failed, retries, dropped atomic.Uint64

	mu        sync.Mutex
	lastError string
	lastFail  time.Time
	lastOK    time.Time
	oldest    time.Time // of the event at the queue's head, zero when none is being sent
}

// signal wakes the delivering goroutine.
func (h *hook) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// State is a hook's state in GET /v1/admin/webhooks and the metrics.
type State struct {
	Name      string     `json:"name"`
	URL       string     `json:"url"`
	Events    []string   `json:"events"`
	Topics    []string   `json:"topics,omitempty"`
	Durable   bool       `json:"durable"` // the queue is kept in the data directory
	Queued    int        `json:"queued"`
	Delivered uint64     `json:"delivered"`
	Failed    uint64     `json:"failed"`  // attempts that failed
	Retries   uint64     `json:"retries"` // attempts after a failed one
	Dropped   uint64     `json:"dropped"` // events never delivered: queue full, or out of attempts
	Oldest    *time.Time `json:"oldest,omitempty"`
	LastError string     `json:"last_error,omitempty"`
	LastFail  *time.Time `json:"last_failure,omitempty"`
	LastOK    *time.Time `json:"last_success,omitempty"`
}

// States reports every hook, in configuration order.
func (m *Manager) States() []State {
	if m == nil {
		return nil
	}
	out := make([]State, 0, len(m.hooks))
	for _, h := range m.hooks {
		_, durable := h.queue.(*storedBacklog)
		st := State{Name: h.cfg.Name, URL: quote.URL(h.cfg.URL), Events: h.cfg.Events, Topics: h.cfg.Topics, Durable: durable,
			Queued: h.queue.len(), Delivered: h.delivered.Load(), Failed: h.failed.Load(), Retries: h.retries.Load(),
			Dropped: h.dropped.Load()}
		h.mu.Lock()
		st.LastError = h.lastError
		st.Oldest, st.LastFail, st.LastOK = timeOrNil(h.oldest), timeOrNil(h.lastFail), timeOrNil(h.lastOK)
		h.mu.Unlock()
		out = append(out, st)
	}
	return out
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// meta is what the headers say about an event, read from its body.
type meta struct {
	ID    string    `json:"id"`
	Event string    `json:"event"`
	Time  time.Time `json:"time"`
}

// deliver sends h's queue in order until ctx ends: each event until the
// receiver takes it (or Attempts ran out), waiting Backoff after a
// failure, doubling up to BackoffMax, with jitter.
func (m *Manager) deliver(ctx context.Context, h *hook) {
	attempt := 0
	for ctx.Err() == nil {
		if err := h.queue.flush(); err != nil {
			m.remote.Log(slog.LevelError, "webhook events not stored", "webhook", h.cfg.Name, "err", err)
		}
		body, ok, err := h.queue.head()
		if err != nil {
			m.remote.Log(slog.LevelError, "webhook queue not read", "webhook", h.cfg.Name, "err", err)
			h.sleep(ctx, h.cfg.BackoffMax)
			continue
		}
		if !ok {
			h.setOldest(time.Time{})
			select {
			case <-ctx.Done():
			case <-h.wake:
			}
			continue
		}
		var ev meta
		if err := json.Unmarshal(body, &ev); err != nil {
			// Only a damaged record reads so: it can never be sent.
			m.log.Error("webhook event unreadable: dropped", "webhook", h.cfg.Name, "err", err)
			h.dropped.Add(1)
			m.pop(ctx, h)
			continue
		}
		h.setOldest(ev.Time)
		attempt++
		if attempt > 1 {
			h.retries.Add(1)
		}
		err = m.post(ctx, h, body, ev, attempt)
		if ctx.Err() != nil {
			return // the event stays queued
		}
		if err == nil {
			h.delivered.Add(1)
			h.mu.Lock()
			h.lastOK = time.Now()
			h.mu.Unlock()
			attempt = 0
			m.pop(ctx, h)
			continue
		}
		h.failed.Add(1)
		h.mu.Lock()
		h.lastError, h.lastFail = err.Error(), time.Now()
		h.mu.Unlock()
		if h.cfg.Attempts > 0 && attempt >= h.cfg.Attempts {
			m.remote.Log(slog.LevelWarn, "webhook event dropped after its last attempt", "webhook", h.cfg.Name,
				"id", ev.ID, "attempts", attempt, "err", err)
			h.dropped.Add(1)
			attempt = 0
			m.pop(ctx, h)
			continue
		}
		m.remote.Log(slog.LevelWarn, "webhook attempt failed", "webhook", h.cfg.Name, "id", ev.ID, "attempt", attempt, "err", err)
		h.sleep(ctx, backoff(h.cfg.Backoff, h.cfg.BackoffMax, attempt))
	}
}

// pop removes the event just handled; if the store refuses, it is sent
// again (at least once) after a pause.
func (m *Manager) pop(ctx context.Context, h *hook) {
	if err := h.queue.pop(); err != nil {
		m.remote.Log(slog.LevelError, "webhook event not removed from its queue", "webhook", h.cfg.Name, "err", err)
		h.sleep(ctx, h.cfg.Backoff)
	}
}

func (h *hook) setOldest(t time.Time) {
	h.mu.Lock()
	h.oldest = t
	h.mu.Unlock()
}

// sleep waits d, storing what arrives meanwhile so that a crash while a
// receiver is down loses nothing queued.
func (h *hook) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-h.wake:
			_ = h.queue.flush() // an error is logged by the loop's next flush
		}
	}
}

// backoff is the wait after the attempt-th failure: base doubled per
// failure up to most, then a random half of it taken off, so that
// hooks failing together do not retry together.
func backoff(base, most time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < most; i++ {
		d *= 2
	}
	d = min(d, most)
	return d/2 + rand.N(d/2+1)
}

// post makes one attempt: a 2xx answer within the timeout delivers.
func (m *Manager) post(ctx context.Context, h *hook, body []byte, ev meta, attempt int) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", h.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "streamhub/"+m.version)
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderEvent, ev.Event)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ev.Time.Unix(), 10))
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	if h.cfg.Secret != "" {
		req.Header.Set(HeaderSignature, Sign(h.cfg.Secret, body))
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
