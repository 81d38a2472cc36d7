package client

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/topic"
)

// mqttConn speaks MQTT 3.1.1 (paho.mqtt.golang) to the server's MQTT
// listener. MQTT carries neither cursors nor content types.
type mqttConn struct {
	url    *url.URL
	pub    paho.Client // connected by the first Publish
	broker string      // tcp://HOST:PORT or ssl://HOST:PORT, as paho writes them
	tls    *tls.Config // nil: the system's roots
}

func newMQTT(u *url.URL, opts Options) *mqttConn {
	broker := "tcp://" + u.Host
	if u.Scheme == "mqtts" {
		broker = "ssl://" + u.Host
	}
	return &mqttConn{url: u, broker: broker, tls: opts.TLS}
}

// connectTimeout bounds one MQTT connection attempt.
const connectTimeout = 10 * time.Second

// connect makes one connection with a fresh client id and clean session;
// onLost is called if it drops.
func (m *mqttConn) connect(ctx context.Context, onLost func(error)) (paho.Client, error) {
	id := make([]byte, 6)
	rand.Read(id)
	opts := paho.NewClientOptions().AddBroker(m.broker).SetClientID("streamhub-cli-" + hex.EncodeToString(id)).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(connectTimeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			if onLost != nil {
				onLost(err)
			}
		})
	if m.tls != nil {
		opts.SetTLSConfig(m.tls)
	}
	if m.url.User != nil {
		opts.SetUsername(m.url.User.Username())
		if p, ok := m.url.User.Password(); ok {
			opts.SetPassword(p)
		}
	}
	c := paho.NewClient(opts)
	tok := c.Connect()
	if err := await(ctx, tok); err != nil {
		if rc := tok.(*paho.ConnectToken).ReturnCode(); rc >= 1 && rc <= 5 {
			// CONNACK refused it (credentials, client id): retrying is no use.
			return nil, &statusError{fmt.Sprintf("client: %s refused the connection: %v", redacted(m.url), err)}
		}
		return nil, fmt.Errorf("client: connect %s: %w", redacted(m.url), err)
	}
	return c, nil
}

// await waits for an MQTT exchange, or for ctx.
func await(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish sends one QoS 1 message, connecting first if needed.
func (m *mqttConn) Publish(ctx context.Context, name string, payload []byte, opts PublishOptions) (string, error) {
	if opts.ContentType != "" {
		return "", errors.New("client: MQTT 3.1.1 carries no content type: use an http:// or ws:// server")
	}
	// The server's only answer to an invalid topic is closing the
	// connection, which would read as "connection lost".
	if err := topic.ValidateName(name); err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	if m.pub == nil {
		c, err := m.connect(ctx, nil)
		if err != nil {
			return "", err
		}
		m.pub = c
	}
	if err := await(ctx, m.pub.Publish(name, 1, opts.Retain, payload)); err != nil {
		return "", fmt.Errorf("client: publish to %s: %w", redacted(m.url), err)
	}
	return "", nil
}

// Subscribe subscribes at QoS 1 and reconnects (without resuming: MQTT
// has no cursors) when the connection drops.
func (m *mqttConn) Subscribe(ctx context.Context, filters []string, opts SubscribeOptions, handle Handler) error {
	if opts.Cursor != "" {
		return errors.New("client: MQTT has no cursors: use an http:// or ws:// server to resume")
	}
	return resubscribe(ctx, redacted(m.url), filters, opts, handle, func(_ string, retry *retrier, handle Handler) error {
		return m.session(ctx, filters, opts, retry, handle)
	})
}

// session runs one connection until it drops, ctx ends or handle fails.
func (m *mqttConn) session(ctx context.Context, filters []string, opts SubscribeOptions, retry *retrier, handle Handler) error {
	lost := make(chan error, 1)
	c, err := m.connect(ctx, func(err error) { lost <- err })
	if err != nil {
		return err
	}
	defer c.Disconnect(250)
	// paho calls back on its own goroutine; messages are handled here, in
	// order, and a callback still waiting when the session ends gives up.
	msgs := make(chan paho.Message, 64)
	ended := make(chan struct{})
	defer close(ended)
	want := make(map[string]byte, len(filters))
	for _, f := range filters {
		want[f] = 1
	}
	tok := c.SubscribeMultiple(want, func(_ paho.Client, msg paho.Message) {
		select {
		case msgs <- msg:
		case <-ended:
		}
	})
	if err := await(ctx, tok); err != nil {
		return fmt.Errorf("client: subscribe at %s: %w", redacted(m.url), err)
	}
	for f, code := range tok.(*paho.SubscribeToken).Result() {
		if code == 0x80 {
			return &statusError{fmt.Sprintf("client: %s refused the subscription to %q", redacted(m.url), f)}
		}
	}
	retry.connected()
	if opts.OnSubscribed != nil {
		opts.OnSubscribed()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-lost:
			return fmt.Errorf("client: connection to %s lost: %w", redacted(m.url), err)
		case msg := <-msgs:
			if msg.Retained() && opts.NoRetained {
				continue
			}
			e := envelope.Envelope{Type: envelope.TypeMessage, Topic: msg.Topic(), Retained: msg.Retained()}
			e.Encoding, e.Payload = envelope.EncodePayload(msg.Payload())
			line, _ := json.Marshal(e) // strings and a bool: cannot fail
			if err := handle(e, line); err != nil {
				return err
			}
		}
	}
}

// Close disconnects the publishing connection, letting queued publishes finish.
func (m *mqttConn) Close() error {
	if m.pub != nil {
		m.pub.Disconnect(250)
	}
	return nil
}
