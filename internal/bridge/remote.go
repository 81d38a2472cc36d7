package bridge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"streamhub/internal/core/message"
)

// remote is one MQTT connection to the other broker, whichever protocol
// version it speaks. Its client library calls back received messages;
// outgoing ones are published in order by one goroutine (the pump).
type remote interface {
	// publish sends m under the remote topic name; the returned ack
	// completes when the broker acknowledged it (QoS 1 and 2) or it was
	// written (QoS 0).
	// It may wait while the broker's receive maximum is in flight, until
	// ctx ends.
	publish(ctx context.Context, name string, m *message.Message, qos byte) ack
	// receiveMaximum is the broker's bound on unacknowledged publishes
	// (MQTT 5), 0 if it set none.
	receiveMaximum() int
	// lost is closed when the connection is gone.
	lost() <-chan struct{}
	// close disconnects (politely when the connection is still up).
	close()
}

// ack is the outcome of one publish.
type ack interface {
	Done() <-chan struct{}
	Error() error
}

// received is a message the remote broker delivered, in its own names.
type received struct {
	topic   string
	payload []byte
	qos     byte
	retain  bool
	// packetID and dup tell a redelivery (QoS 1 and 2) from a new message.
	packetID uint16
	dup      bool
	// MQTT 5 only.
	contentType     string
	responseTopic   string
	correlationData []byte
	utf8            bool
	expiry          uint32 // seconds, 0: none
	headers         []message.Header
}

// session is what a remote connection needs to be made.
type session struct {
	url        *url.URL
	tls        *tls.Config
	clientID   string
	username   string
	password   string
	keepAlive  uint16 // seconds
	cleanStart bool
	expiry     uint32 // MQTT 5 session expiry, seconds
	subs       []subscription
	// deliver hands a received message to the hub; it returns once the
	// message is published (stored, with a data directory), so the
	// acknowledgement the library sends after it means "kept".
	deliver func(received)
	// dialed is called once the byte stream to the broker is open.
	dialed func()
}

// subscription is one remote filter the bridge subscribes to.
type subscription struct {
	filter string
	qos    byte
}

// errRefused marks a CONNACK that refused the bridge (credentials, client
// id, protocol version): logged as such, retried with back-off all the same,
// since an operator may fix the other side.
var errRefused = errors.New("refused")

// refusedPublish is a publish the broker answered with an error reason
// (MQTT 5): sending it again would be refused again.
type refusedPublish struct {
	packet string
	reason byte
}

func (e *refusedPublish) Error() string {
	return fmt.Sprintf("%s reason code 0x%02x", e.packet, e.reason)
}

// dial opens the byte stream to the broker: TCP, TLS, or a WebSocket with
// the "mqtt" subprotocol carrying binary messages.
func dial(ctx context.Context, u *url.URL, tc *tls.Config) (net.Conn, error) {
	var d net.Dialer
	switch u.Scheme {
	case "mqtt", "tcp":
		return d.DialContext(ctx, "tcp", hostPort(u, "1883"))
	case "mqtts", "ssl", "tls":
		td := tls.Dialer{NetDialer: &d, Config: tlsFor(tc, u)}
		return td.DialContext(ctx, "tcp", hostPort(u, "8883"))
	case "ws", "wss":
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsFor(tc, u), DialContext: d.DialContext}}
		c, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"mqtt"}})
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(-1) // the broker's packets are bounded by the broker
		// The connection lives until closed, not until ctx (a dial's) ends.
		return websocket.NetConn(context.WithoutCancel(ctx), c, websocket.MessageBinary), nil
	}
	return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

// tlsFor is the TLS configuration for u's host.
func tlsFor(tc *tls.Config, u *url.URL) *tls.Config {
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	return tc
}

// hostPort is u's host with the scheme's default port when it has none.
func hostPort(u *url.URL, port string) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(strings.Trim(u.Hostname(), "[]"), port)
}

// doneAck is the ack of a message that needs none (QoS 0 written, or
// skipped) or that failed before it was sent.
type doneAck struct{ err error }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (doneAck) Done() <-chan struct{} { return closedChan }
func (a doneAck) Error() error        { return a.err }
