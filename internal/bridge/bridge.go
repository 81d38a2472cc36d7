// Package bridge connects streamhub to other MQTT brokers (3.1.1 or 5, over
// TCP, TLS or WebSocket), as Mosquitto's and EMQX's bridges do: topics of
// the remote broker are published into the hub, and the hub's topics are
// published to the remote broker, each renamed by a mapping, at a QoS per
// direction.
//
// A message that came in over a bridge carries the bridge's origin and is
// never sent back out over it; MQTT 5 subscriptions ask for no-local and
// MQTT 3.1.1 connections announce themselves as a bridge (protocol level
// 0x84), so that the remote broker does not echo the bridge's own
// publishes either. Outgoing messages wait while the remote broker is
// unreachable: in the store when their topics are durable (the bridge
// resumes from the last cursor the remote acknowledged, kept in a file
// beside the store), else in a bounded queue whose drops are counted; they
// leave in order, and QoS 1 and 2 ones are forgotten only once
// acknowledged.
package bridge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/ratelog"
)

// Config is one bridge.
type Config struct {
	Name string
	// URL is mqtt://, mqtts://, ws:// or wss:// with host and port
	// (WebSocket: and path, e.g. /mqtt).
	URL string
	// Version is 4 (MQTT 3.1.1) or 5.
	Version  int
	ClientID string
	Username string
	Password string
	// CA verifies the remote broker's certificate (else the system's
	// roots); Cert and Key are the bridge's own client certificate.
	CA, Cert, Key string
	KeepAlive     time.Duration
	// CleanStart drops the remote session at each connection; without it
	// the remote broker keeps the bridge's subscriptions and queues
	// messages for it while it is away.
	CleanStart bool
	// SessionExpiry is how long an MQTT 5 broker keeps the session of a
	// bridge that went away.
	SessionExpiry time.Duration
	In            []Route // remote → local
	Out           []Route // local → remote
	// Inflight bounds the outgoing QoS 1 and 2 publishes awaiting their
	// acknowledgement.
	Inflight int
	// Queue bounds the outgoing messages kept in memory (messages, bytes).
	Queue hub.QueueLimits
	// Durable says every local topic of Out is stored: outgoing messages
	// then wait in the store, and CursorFile keeps the cursor of the last
	// one the remote broker acknowledged.
	Durable    bool
	CursorFile string
	// BackoffMin and BackoffMax bound the wait between connection
	// attempts, doubled after each failure, with jitter.
	BackoffMin, BackoffMax time.Duration
}

// Route is one mapping in one direction with the QoS it travels at on the
// remote side (subscription or publish).
type Route struct {
	Mapping
	QoS byte
}

// Hub is what a bridge needs from the core.
type Hub interface {
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
	NewSubscription(transport string, limits hub.QueueLimits) *hub.Subscription
}

// Transport is the name of the bridges' hub subscriptions.
const Transport = "bridge"

// Timeouts of one connection.
const (
	connectTimeout = 15 * time.Second
	writeTimeout   = 15 * time.Second
	disconnectWait = 250 // milliseconds paho.mqtt.golang waits for work in progress
	// A connection that lasted this long resets the back-off.
	stableAfter = 30 * time.Second
)

// Bridge is one bridge's connection loop and counters.
type Bridge struct {
	cfg Config
	url *url.URL
	tls *tls.Config
	hub Hub
	log *slog.Logger
	// remoteLog is for what the remote side causes at will (messages the
	// hub refuses, refused publishes): rate-limited.
	remoteLog *ratelog.Logger
	origin    string

	out *outbox // nil without outgoing routes

	in, inDropped, reconnects atomic.Uint64
	redelivered               *redeliveries

	mu        sync.Mutex
	up        bool
	since     time.Time
	lastError string

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// Origin is the Message.Origin of what bridge name publishes into the hub.
func Origin(name string) string { return "$bridge/" + name }

// New checks cfg and loads its certificates; Start connects.
func New(cfg Config, h Hub, log *slog.Logger) (*Bridge, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: url: %w", cfg.Name, err)
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", cfg.Name, err)
	}
	b := &Bridge{cfg: cfg, url: u, tls: tc, hub: h, origin: Origin(cfg.Name), since: time.Now(), redelivered: newRedeliveries(),
		log: log.With("bridge", cfg.Name, "remote", Redacted(u))}
	b.remoteLog = ratelog.New(b.log, time.Second, 10)
	if len(cfg.Out) > 0 {
		if b.out, err = newOutbox(b); err != nil {
			return nil, fmt.Errorf("bridge %s: %w", cfg.Name, err)
		}
	}
	return b, nil
}

// Redacted is u without its password, for logs and the admin API.
func Redacted(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// tlsConfig builds the client TLS configuration from the CA and the
// client certificate files (nil: the defaults, for mqtts:// and wss://).
func tlsConfig(cfg Config) (*tls.Config, error) {
	if cfg.CA == "" && cfg.Cert == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s: no PEM certificate in it", cfg.CA)
		}
	}
	if cfg.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Start runs the connection loop until Close.
func (b *Bridge) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	b.stop, b.done = cancel, make(chan struct{})
	go func() {
		defer close(b.done)
		b.run(ctx)
	}()
}

// Close disconnects and keeps the cursor of what the remote acknowledged;
// later calls do nothing.
func (b *Bridge) Close() {
	b.closeOnce.Do(func() {
		if b.stop != nil {
			b.stop()
			<-b.done
		}
		if b.out != nil {
			b.out.close()
		}
	})
}

// run connects, forwards until the connection ends, and reconnects after
// a back-off that doubles up to BackoffMax, with jitter so that many
// bridges cut off together do not all return at once.
func (b *Bridge) run(ctx context.Context) {
	delay := b.cfg.BackoffMin
	levels := levelChooser{bridge: true}
	for connected := false; ; {
		var dialed bool
		r, err := b.connect(ctx, levels.bridge, func() { dialed = true })
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			b.setDown(err)
			if b.cfg.Version != 5 && levels.failed(dialed, 0) {
				b.log.Info("bridge: the remote broker does not take MQTT 3.1.1 bridges (protocol level 0x84): connecting as a plain client; it may send the bridge's own messages back",
					"err", err)
				continue
			}
			b.log.Warn("bridge: cannot connect", "err", err, "retry", delay)
			if b.out != nil {
				b.out.noteDrops()
			}
		} else {
			if connected {
				b.reconnects.Add(1)
			}
			connected = true
			b.setUp()
			b.log.Info("bridge: connected", "bridge_protocol", b.cfg.Version != 5 && levels.bridge)
			start := time.Now()
			err = b.forward(ctx, r)
			r.close()
			if ctx.Err() != nil {
				b.setDown(nil)
				return
			}
			b.setDown(err)
			lasted := time.Since(start)
			if b.cfg.Version != 5 && levels.failed(true, lasted) {
				b.log.Info("bridge: the remote broker dropped an MQTT 3.1.1 bridge connection (protocol level 0x84) at once: connecting as a plain client; it may send the bridge's own messages back")
				continue
			}
			b.log.Warn("bridge: connection lost", "err", err, "retry", delay)
			if lasted >= stableAfter {
				delay = b.cfg.BackoffMin
			}
		}
		t := time.NewTimer(jitter(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, b.cfg.BackoffMax)
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// connect makes one connection, subscribed to the remote filters.
func (b *Bridge) connect(ctx context.Context, bridgeMode bool, dialed func()) (remote, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	s := session{url: b.url, tls: b.tls, clientID: b.cfg.ClientID, username: b.cfg.Username, password: b.cfg.Password,
		keepAlive: uint16(b.cfg.KeepAlive / time.Second), cleanStart: b.cfg.CleanStart,
		expiry: uint32(b.cfg.SessionExpiry / time.Second), deliver: b.receive, dialed: dialed}
	for _, r := range b.cfg.In {
		s.subs = append(s.subs, subscription{filter: r.Remote, qos: r.QoS})
	}
	if b.cfg.CleanStart {
		b.redelivered.forget()
	}
	if b.cfg.Version == 5 {
		return connectV5(ctx, s)
	}
	return connectV311(ctx, s, bridgeMode)
}

// receive publishes a message of the remote broker into the hub under its
// local name. It returns once the hub has it (stored, for a durable
// topic), after which the client library acknowledges it to the broker.
func (b *Bridge) receive(rc received) {
	name, ok := "", false
	for _, r := range b.cfg.In {
		if name, ok = r.ToLocal(rc.topic); ok {
			break
		}
	}
	if !ok {
		return // a subscription the remote session kept from an older configuration
	}
	if b.redelivered.seen(rc) {
		return // published before the connection ended: acknowledged again, not published twice
	}
	m := &message.Message{Topic: name, Payload: rc.payload, Retain: rc.retain, QoS: rc.qos, Origin: b.origin,
		ContentType: rc.contentType, ResponseTopic: rc.responseTopic, CorrelationData: rc.correlationData,
		UTF8: rc.utf8, Headers: rc.headers}
	if rc.expiry > 0 {
		m.Expires = time.Now().Add(time.Duration(rc.expiry) * time.Second)
	}
	if _, err := b.hub.Publish(context.Background(), m); err != nil {
		// Refusing to acknowledge would only make the broker send it
		// again: counted, logged, and let go.
		b.inDropped.Add(1)
		b.remoteLog.Log(slog.LevelWarn, "bridge: incoming message refused by the hub", "topic", name, "err", err)
		return
	}
	b.redelivered.published(rc)
	b.in.Add(1)
}

func (b *Bridge) setUp() {
	b.mu.Lock()
	b.up, b.since, b.lastError = true, time.Now(), ""
	b.mu.Unlock()
}

func (b *Bridge) setDown(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.up {
		b.since = time.Now()
	}
	b.up = false
	if err != nil {
		b.lastError = err.Error()
	}
}

// Status is a bridge's state, for the admin API, the dashboard and metrics.
type Status struct {
	Name       string    `json:"name"`
	Remote     string    `json:"remote"`
	Version    string    `json:"version"`
	Up         bool      `json:"up"`
	Since      time.Time `json:"since"`
	LastError  string    `json:"last_error,omitempty"`
	Reconnects uint64    `json:"reconnects"`
	// In and Out count messages that crossed; Queued are outgoing ones
	// waiting in memory (with Durable, more may wait in the store);
	// Dropped are outgoing ones a full queue discarded and incoming ones
	// the hub refused.
	In      uint64 `json:"in"`
	Out     uint64 `json:"out"`
	Queued  int    `json:"queued"`
	Dropped uint64 `json:"dropped"`
	Durable bool   `json:"durable"`
	// Cursor is the last outgoing message the remote acknowledged.
	Cursor string `json:"cursor,omitempty"`
}

// Status reports the bridge's state.
func (b *Bridge) Status() Status {
	b.mu.Lock()
	st := Status{Name: b.cfg.Name, Remote: Redacted(b.url), Version: "3.1.1", Up: b.up, Since: b.since,
		LastError: b.lastError, Durable: b.cfg.Durable && b.out != nil}
	b.mu.Unlock()
	if b.cfg.Version == 5 {
		st.Version = "5"
	}
	st.Reconnects, st.In, st.Dropped = b.reconnects.Load(), b.in.Load(), b.inDropped.Load()
	if b.out != nil {
		o := b.out.stats()
		st.Out, st.Queued, st.Dropped, st.Cursor = o.sent, o.queued, st.Dropped+o.dropped, o.cursor
	}
	return st
}
