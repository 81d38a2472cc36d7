package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestAdmissionOnEveryListener: with limits.peraddress at 1, an address's
// second connection to any listener is refused in that listener's
// protocol (MQTT's CONNACK, over TLS too; the text protocol's -ERR line;
// HTTP's 429; RTSP's 503, over TLS too; the connection closed where the protocol has
// nothing to say first: RTMP and RTMPS before their handshakes, a raw output) and counted in streamhub_connections_refused_total, while its
// first connection stays admitted and counted in streamhub_connections.
// Each listener is dialled from an address of its own (127.0.0.0/8 is all
// the host's on Linux).
func TestAdmissionOnEveryListener(t *testing.T) {
	t.Parallel()
	cert, key, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	in, out := testkit.FreePort(t), testkit.FreePort(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.Limits.Peraddress = 1
		c.MQTT.Cert, c.MQTT.Key = cert, key
		c.TCP.Addr = "127.0.0.1:0"
		c.TCP.In = []string{fmt.Sprintf("127.0.0.1:%d=admit/in", in)}
		c.TCP.Out = []string{fmt.Sprintf("127.0.0.1:%d=admit/#", out)}
		c.RTMP.Timeout, c.RTSP.Timeout = time.Minute, time.Minute // the admitted ones wait for the test
		c.RTMP.Tlsaddr, c.RTMP.Cert, c.RTMP.Key = "127.0.0.1:0", cert, key
		c.RTSP.Tlsaddr, c.RTSP.Cert, c.RTSP.Key = "127.0.0.1:0", cert, key
	})
	clientTLS := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	for i, l := range []struct {
		listener, counted string // counted: its transport label in the metrics
		addr              string
		// refused checks the refusal of a connection over the limit.
		refused func(t *testing.T, nc net.Conn)
	}{
		{"mqtt", "mqtt", s.MQTT().Addr("mqtt").String(), wantQuotaCONNACK},
		{"mqtts", "mqtt", s.MQTT().Addr("mqtts").String(), func(t *testing.T, nc net.Conn) {
			tc := tls.Client(nc, clientTLS)
			wantQuotaCONNACK(t, tc)
		}},
		{"tcp-text", "tcp-text", s.TCP().TextAddr().String(), wantLinePrefix("-ERR too_many_connections")},
		{"tcp-in", "tcp-in", fmt.Sprintf("127.0.0.1:%d", in), wantLinePrefix("-ERR too_many_connections")},
		{"tcp-out", "tcp-out", fmt.Sprintf("127.0.0.1:%d", out), wantClosed},
		{"http", "http", s.Addr(), wantHTTP429},
		{"rtmp", "rtmp", s.RTMP().Addr(), wantClosed},
		{"rtsp", "rtsp", s.RTSP().Addr(), func(t *testing.T, nc net.Conn) {
			fmt.Fprintf(nc, "OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 7\r\n\r\n", nc.RemoteAddr())
			wantLinePrefix("RTSP/1.0 503")(t, nc)
		}},
		{"rtmps", "rtmps", s.RTMPS().Addr(), wantClosed},
		{"rtsps", "rtsps", s.RTSPS().Addr(), func(t *testing.T, nc net.Conn) {
			tc := tls.Client(nc, clientTLS)
			fmt.Fprintf(tc, "OPTIONS rtsps://%s/ RTSP/1.0\r\nCSeq: 7\r\n\r\n", nc.RemoteAddr())
			wantLinePrefix("RTSP/1.0 503")(t, tc)
		}},
	} {
		t.Run(l.listener, func(t *testing.T) {
			refusals := fmt.Sprintf(`streamhub_connections_refused_total{reason="peraddress",transport=%q}`, l.counted)
			before := counter(t, s, refusals)
			from := fmt.Sprintf("127.0.0.%d", 10+i)
			first := dialFrom(t, from, l.addr)
			if l.listener == "mqtts" { // admitted below TLS: the handshake is its own
				go tls.Client(first, clientTLS).Handshake()
			}
			l.refused(t, dialFrom(t, from, l.addr))
			testkit.Eventually(t, 10*time.Second, "the refusal and the admitted connection counted", func() bool {
				return counter(t, s, refusals) == before+1 && counter(t, s, fmt.Sprintf(`streamhub_connections{transport=%q}`, l.counted)) >= 1
			})
		})
	}
}

// wantQuotaCONNACK sends an MQTT 5 CONNECT on nc and wants CONNACK 0x97 (Quota
// exceeded).
func wantQuotaCONNACK(t *testing.T, nc net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := paho.NewClient(paho.ClientConfig{Conn: nc}).Connect(ctx, &paho.Connect{ClientID: "over", CleanStart: true})
	if ca == nil || ca.ReasonCode != 0x97 {
		t.Fatalf("CONNACK %+v (%v), want 0x97", ca, err)
	}
}

// wantLine wants nc's first line to begin with prefix.
func wantLinePrefix(prefix string) func(*testing.T, net.Conn) {
	return func(t *testing.T, nc net.Conn) {
		t.Helper()
		line, err := bufio.NewReader(nc).ReadString('\n')
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("read %q (%v), want %s", line, err, prefix)
		}
	}
}

// wantHTTP429 sends a request on nc and wants 429 Too Many Requests.
func wantHTTP429(t *testing.T, nc net.Conn) {
	t.Helper()
	fmt.Fprintf(nc, "GET /healthz HTTP/1.1\r\nHost: streamhub\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
}

// TestMQTTOverWebSocketTakesOneSlot: an MQTT client on /mqtt is admitted
// once, by the HTTP listener it arrives on, so one connection per address
// is enough for it (MQTT used to take a second slot at CONNECT, and
// refused it with 0x97).
func TestMQTTOverWebSocketTakesOneSlot(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Peraddress = 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.WSURL+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"},
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
			LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.30")}}).DialContext}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	ca, err := paho.NewClient(paho.ClientConfig{Conn: nc}).Connect(ctx, &paho.Connect{ClientID: "ws", CleanStart: true})
	if ca == nil || ca.ReasonCode != 0 {
		t.Fatalf("CONNACK %+v (%v), want success", ca, err)
	}
	testkit.Eventually(t, 10*time.Second, "the connection counted as http and as mqtt", func() bool {
		return counter(t, s, `streamhub_connections{transport="mqtt"}`) == 1 && counter(t, s, `streamhub_connections{transport="http"}`) >= 1
	})
}

// TestHTTPSOverLimitAnswered: over TLS too, an HTTP connection over the
// limits reads 429 rather than a closed connection, even from a client
// that offers HTTP/2 (the refusal's handshake offers only HTTP/1.1).
func TestHTTPSOverLimitAnswered(t *testing.T) {
	t.Parallel()
	cert, key, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) {
		c.Limits.Peraddress = 1
		c.HTTP.Cert, c.HTTP.Key = cert, key
	})
	const from = "127.0.0.40"
	dialFrom(t, from, s.Addr()) // the address's one connection
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+s.Addr()+"/healthz", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("%s %s, want 429 with Retry-After", resp.Proto, resp.Status)
	}
}
