package bridge

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/core/message"
)

// bridgeProtocol311 is MQTT 3.1.1's protocol level with the bridge bit
// (0x80) that Mosquitto and EMQX understand: a broker that knows it treats
// the connection as a bridge, sends it nothing it published itself (no
// local) and keeps retain flags as published. Brokers that do not know it
// refuse it; the bridge then falls back to plain 3.1.1.
const (
	bridgeProtocol311 = 0x84
	plainProtocol311  = 4
)

// levelChooser picks the protocol level of the next MQTT 3.1.1
// connection: the bridge level until the broker shows it does not take
// it, by refusing it (CONNACK 1) or by dropping the connection before or
// soon after accepting it (streamhub's own MQTT listener does), twice in a
// row, so that a broker stopping once does not count; then plain 3.1.1. A
// connection that lasts settles the choice; while none has, a plain
// connection failing too means the trouble was elsewhere, and the bridge
// level is tried again.
type levelChooser struct {
	bridge  bool
	settled bool
	dropped int // bridge-level attempts in a row the broker dropped
}

// settleAfter is how long a connection must last to settle the level.
const settleAfter = 2 * time.Second

// failed is told how an attempt ended: whether the broker was reached,
// and how long the connection lasted (0: never established). It reports
// whether to try again at once with the other level.
func (l *levelChooser) failed(reached bool, lasted time.Duration) bool {
	if lasted >= settleAfter {
		l.settled = true
	}
	if l.settled || !reached {
		return false
	}
	if !l.bridge {
		l.bridge = true // plain failed too: back to the bridge level, after the back-off
		return false
	}
	if l.dropped++; l.dropped < 2 {
		return false
	}
	l.bridge, l.dropped = false, 0
	return true
}

// v311 is a connection made with paho.mqtt.golang, the Eclipse client of
// MQTT 3.1.1 that internal/client already uses.
type v311 struct {
	c        paho.Client
	gone     chan struct{}
	goneOnce sync.Once
}

// connectV311 connects, subscribes and returns once both are
// acknowledged. bridgeMode asks for the 0x84 protocol level.
func connectV311(ctx context.Context, s session, bridgeMode bool) (*v311, error) {
	r := &v311{gone: make(chan struct{})}
	level := uint(plainProtocol311)
	if bridgeMode {
		level = bridgeProtocol311
	}
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + s.url.Host). // only a name: the connection is ours (below)
		SetClientID(s.clientID).SetUsername(s.username).SetPassword(s.password).
		SetProtocolVersion(level).SetCleanSession(s.cleanStart).
		SetKeepAlive(time.Duration(s.keepAlive) * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).SetResumeSubs(false).
		SetOrderMatters(true). // messages reach the hub in the order they came
		SetConnectTimeout(connectTimeout).SetWriteTimeout(writeTimeout).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			c, err := dial(ctx, s.url, s.tls)
			if err == nil {
				s.dialed()
			}
			return c, err
		}).
		SetConnectionLostHandler(func(paho.Client, error) { r.goneOnce.Do(func() { close(r.gone) }) }).
		// A session the broker kept delivers before SUBSCRIBE is answered:
		// one handler for every message, whichever subscription it matched.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			s.deliver(received{topic: m.Topic(), payload: m.Payload(), qos: m.Qos(), retain: m.Retained(),
				packetID: m.MessageID(), dup: m.Duplicate()})
		})
	r.c = paho.NewClient(opts)
	tok := r.c.Connect()
	if err := wait(ctx, tok); err != nil {
		if rc := tok.(*paho.ConnectToken).ReturnCode(); rc >= 1 && rc <= 5 {
			return nil, fmt.Errorf("%w: %v (CONNACK %d)", errRefused, err, rc)
		}
		return nil, err
	}
	if len(s.subs) > 0 {
		filters := make(map[string]byte, len(s.subs))
		for _, sub := range s.subs {
			filters[sub.filter] = sub.qos
		}
		tok := r.c.SubscribeMultiple(filters, nil)
		if err := wait(ctx, tok); err != nil {
			r.close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		for f, code := range tok.(*paho.SubscribeToken).Result() {
			if code == 0x80 {
				r.close()
				return nil, fmt.Errorf("%w: subscription to %q", errRefused, f)
			}
		}
	}
	return r, nil
}

// wait waits for a paho token, or for ctx.
func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *v311) receiveMaximum() int { return 0 }

func (r *v311) publish(_ context.Context, name string, m *message.Message, qos byte) ack {
	return r.c.Publish(name, qos, m.Retain, m.Payload)
}

func (r *v311) lost() <-chan struct{} { return r.gone }

func (r *v311) close() {
	r.c.Disconnect(disconnectWait)
	r.goneOnce.Do(func() { close(r.gone) })
}
