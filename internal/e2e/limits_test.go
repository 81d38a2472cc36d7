package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// TestLimits: connections per address, subscriptions per connection and
// the publish rate, each refused in its protocol's own way.
func TestLimits(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.Addr = "127.0.0.1:0"
		c.Limits.Peraddress, c.Limits.Subscriptions, c.Limits.Rate = 2, 2, 5
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	// Connections from one address: two streams, then refusals.
	a := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=a", "")
	b := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=b", "")
	c := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=c", "")
	c.Body.Close()
	if c.StatusCode != http.StatusTooManyRequests {
		t.Errorf("third stream from one address answered %d", c.StatusCode)
	}
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := paho.NewClient(paho.ClientConfig{Conn: nc}).Connect(ctx, &paho.Connect{ClientID: "over", CleanStart: true})
	if ca == nil || ca.ReasonCode != 0x97 {
		t.Errorf("MQTT over the address limit: CONNACK %+v, want 0x97", ca)
	}
	a.Body.Close()
	b.Body.Close()
	testkit.Eventually(t, 5*time.Second, "streams to close", func() bool { return s.Hub().Stats().Filters == 0 })

	// Subscriptions per connection.
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=x&topic=y&topic=z", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("three filters answered %d", resp.StatusCode)
	}
	client, _ := connect5(t, s, "subs", v5opts{clean: true})
	sa, _ := client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "x"}, {Topic: "y"}, {Topic: "z"}}})
	if sa == nil || fmt.Sprint(sa.Reasons) != "[0 0 151]" {
		t.Errorf("MQTT SUBACK over the limit: %+v, want [0 0 151]", sa)
	}

	// Publish rate: 5 per second with a burst of 5, on one HTTP connection.
	// A client of its own, whose kept-alive connection (counted against the
	// address's two) is closed afterwards.
	httpc := &http.Client{Transport: &http.Transport{}}
	limited := 0
	for range 12 {
		resp, err := httpc.Post(s.URL+"/v1/publish/rate/x", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) // so that the connection is reused
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("HTTP publishes were not rate limited")
	}
	httpc.CloseIdleConnections()
	var tc net.Conn
	var tr *bufio.Reader
	testkit.Eventually(t, 5*time.Second, "the HTTP connection to be released", func() bool {
		if tc != nil {
			tc.Close()
		}
		if tc, err = net.Dial("tcp", s.TCP().TextAddr().String()); err != nil {
			t.Fatal(err)
		}
		tr = bufio.NewReader(tc)
		fmt.Fprint(tc, "PUB rate/t 1\nx\n")
		line, _ := tr.ReadString('\n')
		return !strings.HasPrefix(line, "-ERR too_many_connections")
	})
	defer tc.Close()
	limited = 0
	for range 12 {
		fmt.Fprint(tc, "PUB rate/t 1\nx\n")
		if line, _ := tr.ReadString('\n'); strings.HasPrefix(line, "-ERR rate_limited") {
			limited++
		}
	}
	if limited == 0 {
		t.Error("TCP publishes were not rate limited")
	}
	tc.Close()
	client.Disconnect(&paho.Disconnect{})
	testkit.Eventually(t, 5*time.Second, "connections to close", func() bool { return s.Hub().Stats().Subscriptions == 0 })
	reason := make(chan byte, 1)
	fast, _ := connect5(t, s, "fast", v5opts{clean: true, onDisconnect: func(d *paho.Disconnect) { reason <- d.ReasonCode }})
	// Publish until told: well over 5 a second, for as long as it takes a
	// loaded machine to deliver the DISCONNECT.
	deadline := time.After(10 * time.Second)
	for {
		fast.Publish(ctx, &paho.Publish{Topic: "rate/m", Payload: []byte("x")})
		select {
		case r := <-reason:
			if r != 0x96 {
				t.Errorf("MQTT rate: DISCONNECT %#x, want 0x96", r)
			}
			return
		case <-deadline:
			t.Fatal("MQTT publisher over the rate was not disconnected")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestOriginsAndNetworks: streams from a page of a site not allowed are
// refused, and raw TCP ports accept listed client networks only.
func TestOriginsAndNetworks(t *testing.T) {
	t.Parallel()
	port := testkit.FreePort(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.CORS.Origins = []string{"https://app.example"}
		c.TCP.In = []string{fmt.Sprintf("127.0.0.1:%d=net/in", port)}
		c.TCP.Networks = []string{"10.0.0.0/8"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for origin, want := range map[string]int{"https://app.example": 200, "https://evil.example": 403} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=a", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("EventSource from %s answered %d, want %d", origin, resp.StatusCode, want)
		}
		ws, wresp, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if (err == nil) != (want == 200) {
			t.Errorf("WebSocket from %s: %v %v", origin, err, wresp)
		}
		if ws != nil {
			ws.CloseNow()
		}
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		t.Errorf("a client outside tcp.networks was not refused: %v", err)
	}
}
