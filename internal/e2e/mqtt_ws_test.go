package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

func dialMQTTWebSocket(t *testing.T, s *testkit.Server) net.Conn {
	t.Helper()
	c, resp, err := websocket.Dial(t.Context(), s.WSURL+"/mqtt", &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
		t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary)
}

// TestMQTTOverTLS connects paho.golang to the TLS listener, which opens
// when a certificate and key are configured.
func TestMQTTOverTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.MQTT.Cert, c.MQTT.Key = certFile, keyFile })
	nc, err := tls.Dial("tcp", s.MQTT().Addr("mqtts").String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	c, got := connect5(t, s, "tls-client", v5opts{clean: true, conn: nc})
	subscribe5(t, c, paho.SubscribeOptions{Topic: "tls/#", QoS: 1})
	httpPublish(t, s.URL, "tls/x", []byte("over TLS"), "")
	testkit.Eventually(t, 10*time.Second, "delivery over TLS", func() bool { return len(got.list()) == 1 })
}

// TestMQTT311OverWebSocketPahoGorilla: a second WebSocket client library
// (paho.mqtt.golang dials ws:// with gorilla/websocket, subprotocol "mqtt")
// subscribes and publishes over /mqtt: a QoS 1 round trip through the
// server, with a payload larger than one read of the socket, and an HTTP
// publish received.
func TestMQTT311OverWebSocketPahoGorilla(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	got := make(chan string, 4)
	opts := paho3.NewClientOptions().AddBroker(s.WSURL + "/mqtt").SetClientID("gorilla").
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) { got <- string(m.Payload()) })
	c := paho3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect over ws: %v", tok.Error())
	}
	defer c.Disconnect(100)
	if tok := c.Subscribe("gorilla/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	big := strings.Repeat("0123456789", 10<<10) // 100 KiB
	if tok := c.Publish("gorilla/big", 1, false, big); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	httpPublish(t, s.URL, "gorilla/http", []byte("from http"), "")
	for _, want := range []string{big, "from http"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %d bytes %.20q, want %d bytes %.20q", len(m), m, len(want), want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no delivery of %.20q", want)
		}
	}
}

// TestBrowserMQTTOverWebSocket: Chromium's own WebSocket, as MQTT.js uses
// it, speaks MQTT 3.1.1 to /mqtt: subprotocol mqtt, CONNECT split over two
// frames, SUBSCRIBE and PINGREQ in one frame; the page gets CONNACK,
// SUBACK, PINGRESP and a message published over HTTP as binary frames.
func TestBrowserMQTTOverWebSocket(t *testing.T) {
	s := testkit.Start(t, nil)
	connect := append([]byte{0x10, 19, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 7}, "browser"...)
	subscribe := append([]byte{0x82, 17, 0, 1, 0, 12}, "browser/mqtt"...)
	subscribe = append(subscribe, 0, 0xc0, 0) // QoS 0, then a PINGREQ
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><script>
window.rx = []; window.proto = null; window.wsClosed = null;
const connect = new Uint8Array(%s), subscribe = new Uint8Array(%s);
const socket = new WebSocket(%q, ['mqtt']);
socket.binaryType = 'arraybuffer';
socket.onopen = () => {
  window.proto = socket.protocol;
  socket.send(connect.slice(0, 5));
  socket.send(connect.slice(5));
  socket.send(subscribe);
};
socket.onmessage = (e) => { window.rx.push(...new Uint8Array(e.data)); };
socket.onclose = (e) => { window.wsClosed = e.code; };
</script>`, jsBytes(connect), jsBytes(subscribe), s.WSURL+"/mqtt")
	}))
	defer page.Close()
	browser, problems := dashboardBrowser(t, page.URL, 1280, 800)
	type pageState struct {
		RX     []int  `json:"rx"` // bytes
		Proto  string `json:"proto"`
		Closed *int   `json:"closed"`
	}
	var st pageState
	var rx []byte
	read := func(what string, cond func() bool) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, what, func() bool {
			var err error
			st, err = chromedp.Run(browser, chromedp.Evaluate[pageState](`({rx: window.rx, proto: window.proto, closed: window.wsClosed})`))
			if err != nil {
				t.Fatal(err)
			}
			rx = rx[:0]
			for _, b := range st.RX {
				rx = append(rx, byte(b))
			}
			return st.Closed != nil || cond()
		})
	}
	suback, pingresp := []byte{0x90, 3, 0, 1, 0}, []byte{0xd0, 0}
	read("CONNACK, SUBACK and PINGRESP", func() bool {
		return bytes.Contains(rx, suback) && bytes.Contains(rx, pingresp)
	})
	if st.Proto != "mqtt" || !bytes.HasPrefix(rx, []byte{0x20, 2, 0, 0}) || st.Closed != nil {
		t.Fatalf("subprotocol %q, received % x, closed %v", st.Proto, rx, st.Closed)
	}
	httpPublish(t, s.URL, "browser/mqtt", []byte("hello browser"), "")
	publish := append(append([]byte{0x30, 27, 0, 12}, "browser/mqtt"...), "hello browser"...)
	read("the PUBLISH", func() bool { return bytes.Contains(rx, publish) })
	if st.Closed != nil || !bytes.Contains(rx, publish) {
		t.Fatalf("received % x, closed %v", rx, st.Closed)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("page problems: %q", p)
	}
}

// jsBytes writes b as a JavaScript array literal.
func jsBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = strconv.Itoa(int(c))
	}
	return "[" + strings.Join(parts, ",") + "]"
}
