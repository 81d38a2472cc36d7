// Package limit holds the limits every protocol applies alike: connections
// in total and per client address, and a publish rate per connection.
package limit

import (
	"context"
	"errors"
	"net"
	"sync"

	"golang.org/x/time/rate"
)

// Errors of Acquire; transports answer them in their protocol's way.
var (
	ErrTooManyConnections = errors.New("too many connections to the server")
	ErrTooManyFromAddress = errors.New("too many connections from this address")
)

// Conns counts open connections; zero limits mean none. A nil *Conns
// limits nothing.
type Conns struct {
	max, perAddress int
	mu              sync.Mutex
	total           int
	per             map[string]int
}

// NewConns returns a counter, or nil when there are no limits.
func NewConns(max, perAddress int) *Conns {
	if max <= 0 && perAddress <= 0 {
		return nil
	}
	return &Conns{max: max, perAddress: perAddress, per: map[string]int{}}
}

// Acquire admits a connection from remote (host:port or host), returning
// the func that releases it.
func (c *Conns) Acquire(remote string) (release func(), err error) {
	if c == nil {
		return func() {}, nil
	}
	host := addressOf(remote)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.total >= c.max {
		return nil, ErrTooManyConnections
	}
	if c.perAddress > 0 && c.per[host] >= c.perAddress {
		return nil, ErrTooManyFromAddress
	}
	c.total++
	c.per[host]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.total--
			if c.per[host]--; c.per[host] == 0 {
				delete(c.per, host)
			}
			c.mu.Unlock()
		})
	}, nil
}

// Rate is a per-connection publish rate: perSecond with a burst of as many.
type Rate struct{ perSecond float64 }

// NewRate returns the rate, zero meaning unlimited.
func NewRate(perSecond float64) Rate { return Rate{perSecond: perSecond} }

// Limiter returns a fresh limiter for one connection, or nil when unlimited.
func (r Rate) Limiter() *rate.Limiter {
	if r.perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r.perSecond), max(1, int(r.perSecond)))
}

// Allow reports whether one more publish may pass a (possibly nil) limiter.
func Allow(l *rate.Limiter) bool { return l == nil || l.Allow() }

type ctxKey struct{}

// WithLimiter attaches a connection's limiter to ctx (HTTP connections).
func WithLimiter(ctx context.Context, l *rate.Limiter) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// FromContext returns the connection's limiter, or nil.
func FromContext(ctx context.Context) *rate.Limiter {
	l, _ := ctx.Value(ctxKey{}).(*rate.Limiter)
	return l
}

// addressOf is remote (host:port or host) without its port.
func addressOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
