package limit

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrTooManyFailures refuses a password check from an address that failed
// too many lately; transports answer it in their protocol's way (HTTP 429,
// MQTT 5 0x9F, ...).
var ErrTooManyFailures = errors.New("too many failed logins from this address; try again later")

// maxFailingAddresses bounds the addresses tracked at once; past it, a new
// address is not tracked (the cap on concurrent checks still holds).
const maxFailingAddresses = 100_000

// Failures counts failed logins per client address: each address may fail
// burst times in a row, then once more every interval. A nil *Failures
// limits nothing.
type Failures struct {
	burst int
	every rate.Limit

	mu     sync.Mutex
	byAddr map[string]*rate.Limiter
}

// NewFailures returns the counter, or nil when burst <= 0.
func NewFailures(burst int, interval time.Duration) *Failures {
	if burst <= 0 || interval <= 0 {
		return nil
	}
	return &Failures{burst: burst, every: rate.Every(interval), byAddr: make(map[string]*rate.Limiter)}
}

// Blocked reports whether remote has no failure left to spend: its next
// check is refused without being made.
func (f *Failures) Blocked(remote string) bool {
	if f == nil || remote == "" {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addressOf(remote)]
	return l != nil && l.Tokens() < 1
}

// Fail spends one of remote's failures.
func (f *Failures) Fail(remote string) {
	if f == nil || remote == "" {
		return
	}
	addr := addressOf(remote)
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.byAddr[addr]
	if l == nil {
		if len(f.byAddr) >= maxFailingAddresses {
			f.forgetRecoveredLocked()
		}
		if len(f.byAddr) >= maxFailingAddresses {
			return
		}
		l = rate.NewLimiter(f.every, f.burst)
		f.byAddr[addr] = l
	}
	l.Allow()
}

// forgetRecoveredLocked drops the addresses whose failures have all come
// back: they are as good as new.
func (f *Failures) forgetRecoveredLocked() {
	for addr, l := range f.byAddr {
		if l.Tokens() >= float64(f.burst) {
			delete(f.byAddr, addr)
		}
	}
}
