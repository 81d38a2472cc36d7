package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/quote"
)

// link is one connection to NATS and what is bound to it. nats.go
// reconnects a connection by itself (MaxReconnects(-1)) when the network
// or a server goes away, but not after a server closed it with an error
// it deems fatal ("maximum control line exceeded", "maximum payload
// violation", an authorization error seen twice, any unknown -ERR): that
// connection stays closed. The node then dials a new link (redial) and
// whatever is bound to the old one follows it (follow, run's consumer,
// MQTT's bucket).
type link struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	messages jetstream.Stream
	retained jetstream.Stream
	lost     chan struct{} // closed once nc is closed for good
	next     chan struct{} // closed once another link replaced this one
}

// Redials of a link closed for good are redialMin apart at first, twice
// as long after each failure, at most redialMax.
const (
	redialMin = 250 * time.Millisecond
	redialMax = 30 * time.Second
)

// link is the connection in use now.
func (b *JetStream) link() *link { return b.cur.Load() }

// dial connects to NATS; the link has no streams yet (join, attach).
func (b *JetStream) dial() (*link, error) {
	l := &link{lost: make(chan struct{}), next: make(chan struct{})}
	opts := []nats.Option{nats.Name("streamhub " + b.cfg.Node), nats.MaxReconnects(-1),
		nats.ClosedHandler(func(*nats.Conn) { b.closedForGood(l) })}
	if b.cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(b.cfg.Creds))
	}
	if b.cfg.CA != "" {
		opts = append(opts, nats.RootCAs(b.cfg.CA))
	}
	nc, err := nats.Connect(strings.Join(b.cfg.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to %v: %w", quote.URLs(b.cfg.URLs), err)
	}
	l.nc = nc
	l.js, err = jetstream.New(nc, jetstream.WithDefaultTimeout(b.cfg.Timeout),
		jetstream.WithPublishAsyncTimeout(b.cfg.Timeout), jetstream.WithPublishAsyncMaxPending(asyncWindow))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	return l, nil
}

// attach binds a redialled link to the streams the node joined.
func (b *JetStream) attach(ctx context.Context, l *link) (err error) {
	name := strings.ToUpper(b.cfg.Prefix)
	if l.messages, err = l.js.Stream(ctx, name); err != nil {
		return fmt.Errorf("cluster: stream %s: %w", name, err)
	}
	if l.retained, err = l.js.Stream(ctx, name+"_RETAINED"); err != nil {
		return fmt.Errorf("cluster: stream %s_RETAINED: %w", name, err)
	}
	return nil
}

// closedForGood runs when l's connection is closed: by Close, by a link
// that failed to attach, or by NATS for good, when the node redials.
func (b *JetStream) closedForGood(l *link) {
	select {
	case <-b.closed:
		return
	default:
	}
	if b.link() != l {
		return
	}
	close(l.lost)
	b.log.Error("cluster: NATS closed the connection for good; dialling again", "err", l.nc.LastError())
	go b.redial(l)
}

// redial dials a link to replace old until one is attached or the broker
// is closed.
func (b *JetStream) redial(old *link) {
	wait := redialMin
	for {
		select {
		case <-b.closed:
			return
		case <-time.After(wait + rand.N(wait/4)):
		}
		l, err := b.dial()
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), b.cfg.Timeout)
			err = b.attach(ctx, l)
			cancel()
			if err != nil {
				l.nc.Close()
			}
		}
		if err == nil {
			b.followMu.Lock()
			b.moveFollowers(l)
			b.cur.Store(l)
			b.followMu.Unlock()
			close(old.next)
			select {
			case <-b.closed: // Close closed the old link meanwhile
				l.nc.Close()
			default:
				b.log.Info("cluster: connected to NATS again", "server", l.nc.ConnectedUrlRedacted())
			}
			return
		}
		b.log.Warn("cluster: NATS not reachable again yet", "err", err, "retry", wait)
		wait = min(2*wait, redialMax)
	}
}

// follow runs subscribe on the link in use, and again on each link that
// replaces it, until stop; subscribe returns what ends its subscriptions.
// A redialled link becomes the one in use only once every follower is
// subscribed on it (moveFollowers): whoever sees the node connected again
// reaches its subscriptions.
func (b *JetStream) follow(subscribe func(nc *nats.Conn) (unsubscribe func(), err error)) (stop func(), err error) {
	b.followMu.Lock()
	defer b.followMu.Unlock()
	unsubscribe, err := subscribe(b.link().nc)
	if err != nil {
		return nil, err
	}
	f := &follower{subscribe: subscribe, unsubscribe: unsubscribe}
	if b.followers == nil {
		b.followers = map[*follower]struct{}{}
	}
	b.followers[f] = struct{}{}
	return func() {
		b.followMu.Lock()
		defer b.followMu.Unlock()
		if _, ok := b.followers[f]; ok {
			delete(b.followers, f)
			f.unsubscribe()
		}
	}, nil
}

// follower is one follow's subscribe and what ends its subscriptions on
// the link in use (guarded by JetStream.followMu).
type follower struct {
	subscribe   func(nc *nats.Conn) (unsubscribe func(), err error)
	unsubscribe func()
}

// moveFollowers subscribes every follower on l instead of the link in
// use; the caller holds b.followMu.
func (b *JetStream) moveFollowers(l *link) {
	for f := range b.followers {
		f.unsubscribe()
		unsubscribe, err := f.subscribe(l.nc)
		if err != nil {
			b.log.Error("cluster: subscription not made again on the new NATS connection", "err", err)
			unsubscribe = func() {}
		}
		f.unsubscribe = unsubscribe
	}
}
