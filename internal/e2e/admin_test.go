package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// adminGet decodes GET /v1/admin/<path> into v, failing on any status but 200.
func adminGet(t *testing.T, s *testkit.Server, path string, v any, auth ...string) {
	t.Helper()
	resp := adminDo(t, s, http.MethodGet, path, auth...)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// adminDo sends a request to /v1/admin/<path>; auth, when given, is the
// Authorization header.
func adminDo(t *testing.T, s *testkit.Server, method, path string, auth ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, s.URL+"/v1/admin/"+path, nil)
	if len(auth) > 0 {
		req.Header.Set("Authorization", auth[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

type adminClient struct {
	ID        string   `json:"id"`
	Transport string   `json:"transport"`
	Identity  string   `json:"identity"`
	ClientID  string   `json:"client_id"`
	Filters   []string `json:"filters"`
	Remote    string   `json:"remote"`
	Path      string   `json:"path"` // media connections'
	Role      string   `json:"role"`
}

// waitClient waits for a connection of the transport subscribed to filter
// to be listed, and returns it; auth is as adminDo's.
func waitClient(t *testing.T, s *testkit.Server, transport, filter string, auth ...string) adminClient {
	t.Helper()
	var found adminClient
	testkit.Eventually(t, 10*time.Second, transport+" client on "+filter+" listed", func() bool {
		var got struct{ Clients []adminClient }
		adminGet(t, s, "clients", &got, auth...)
		for _, c := range got.Clients {
			if c.Transport == transport && strings.Contains(strings.Join(c.Filters, " "), filter) {
				found = c
				return true
			}
		}
		return false
	})
	return found
}

func clientListed(t *testing.T, s *testkit.Server, id string, auth ...string) bool {
	var got struct{ Clients []adminClient }
	adminGet(t, s, "clients", &got, auth...)
	for _, c := range got.Clients {
		if c.ID == id {
			return true
		}
	}
	return false
}

func kick(t *testing.T, s *testkit.Server, id string) {
	t.Helper()
	resp := adminDo(t, s, http.MethodDelete, "clients/"+id)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE clients/%s: %d", id, resp.StatusCode)
	}
}

// TestAdminKickMQTT5: a paho.golang v5 client listed by the admin API is
// disconnected by DELETE with DISCONNECT 0x98 (administrative action), and
// leaves the list.
func TestAdminKickMQTT5(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	reasons := make(chan byte, 1)
	c, _ := connect5(t, s, "kick-me", v5opts{clean: true, onDisconnect: func(d *paho.Disconnect) { reasons <- d.ReasonCode }})
	subscribe5(t, c, paho.SubscribeOptions{Topic: "kick/v5", QoS: 1})
	listed := waitClient(t, s, "mqtt", "kick/v5")
	if listed.ClientID != "kick-me" {
		t.Errorf("client id %q, want kick-me", listed.ClientID)
	}
	var sessions struct {
		Sessions []struct {
			ClientID  string `json:"client_id"`
			Connected bool
			Filters   []string
		}
	}
	adminGet(t, s, "sessions", &sessions)
	if len(sessions.Sessions) != 1 || sessions.Sessions[0].ClientID != "kick-me" || !sessions.Sessions[0].Connected ||
		len(sessions.Sessions[0].Filters) != 1 {
		t.Errorf("sessions: %+v", sessions.Sessions)
	}
	kick(t, s, listed.ID)
	select {
	case r := <-reasons:
		if r != 0x98 {
			t.Errorf("DISCONNECT reason %#x, want 0x98", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no DISCONNECT after the kick")
	}
	testkit.Eventually(t, 5*time.Second, "kicked client unlisted", func() bool { return !clientListed(t, s, listed.ID) })
	if resp := adminDo(t, s, http.MethodDelete, "clients/"+listed.ID); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second kick: %d, want 404", resp.StatusCode)
	}
}

// TestAdminKickMQTT311: a paho.mqtt.golang 3.1.1 client loses its
// connection when kicked.
func TestAdminKickMQTT311(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	lost := make(chan error, 1)
	opts := mqtt3.NewClientOptions().AddBroker("tcp://" + s.MQTT().Addr("mqtt").String()).SetClientID("kick-311").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err })
	c := mqtt3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(0)
	if tok := c.Subscribe("kick/311", 0, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	kick(t, s, waitClient(t, s, "mqtt", "kick/311").ID)
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("connection not lost after the kick")
	}
}

// TestAdminKickSSE: a kicked SSE subscriber gets `event: close` with
// reason "kicked".
func TestAdminKickSSE(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=kick/sse", "text/event-stream")
	defer resp.Body.Close()
	kick(t, s, waitClient(t, s, "sse", "kick/sse").ID)
	r := testkit.NewSSEReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("no close event: %v", err)
		}
		if ev.Event == "close" {
			if !strings.Contains(ev.Data, "kicked") {
				t.Errorf("close event %q, want reason kicked", ev.Data)
			}
			return
		}
	}
}

// TestAdminTopicsAndRetained: the topic list shows a topic published over
// HTTP with its count, rate, last payload and retained marker; DELETE
// clears the retained message.
func TestAdminTopicsAndRetained(t *testing.T) {
	t.Parallel()
	s := testkit.StartOn(t, testkit.Pebble, func(c *config.Config) { c.Durable.Streams = []config.DurableStream{{Filter: "dur/#"}} })
	for i := range 3 {
		publishHTTP(t, s, "adm/temp?retain=true", fmt.Sprint(20+i))
	}
	publishHTTP(t, s, "dur/x", "stored")
	var topics struct {
		Topics []struct {
			Name              string
			Messages          int
			Rate              float64
			Retained, Durable bool
			Last              struct{ Payload string }
		}
	}
	adminGet(t, s, "topics?filter=%2B/%2B", &topics)
	if len(topics.Topics) != 2 {
		t.Fatalf("topics %+v, want adm/temp and dur/x", topics.Topics)
	}
	temp, dur := topics.Topics[0], topics.Topics[1]
	if temp.Name != "adm/temp" || temp.Messages != 3 || temp.Rate <= 0 || !temp.Retained || temp.Durable || temp.Last.Payload != "22" {
		t.Errorf("adm/temp: %+v", temp)
	}
	if dur.Name != "dur/x" || !dur.Durable {
		t.Errorf("dur/x: %+v", dur)
	}
	var streams struct {
		Streams []struct {
			Filter   string
			Messages int
			First    uint64 `json:"first_seq"`
			Last     uint64 `json:"last_seq"`
		}
	}
	adminGet(t, s, "streams", &streams)
	if len(streams.Streams) != 1 || streams.Streams[0].Messages != 1 || streams.Streams[0].First == 0 ||
		streams.Streams[0].First != streams.Streams[0].Last {
		t.Errorf("streams: %+v", streams.Streams)
	}
	resp := adminDo(t, s, http.MethodDelete, "retained/adm/temp")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE retained: %d", resp.StatusCode)
	}
	var retained struct{ Retained []struct{ Topic string } }
	adminGet(t, s, "retained", &retained)
	if len(retained.Retained) != 0 {
		t.Errorf("retained after delete: %+v", retained.Retained)
	}
}

// TestAdminRefusals: with auth on, the admin API needs the admin role
// (401 without credentials, 403 for a user), and the configuration it
// shows has its secrets redacted.
func TestAdminRefusals(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{basicAuth("alice", "alice-pw"), http.StatusForbidden},
		{"Bearer " + token(t, "bob", time.Now().Add(time.Hour)), http.StatusForbidden},
		{basicAuth("root", "root-pw"), http.StatusOK},
		{"Bearer " + token(t, "boss", time.Now().Add(time.Hour), "admin"), http.StatusOK},
	} {
		var resp *http.Response
		if c.auth == "" {
			resp = adminDo(t, s, http.MethodGet, "config")
		} else {
			resp = adminDo(t, s, http.MethodGet, "config", c.auth)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%.20q: %d, want %d", c.auth, resp.StatusCode, c.want)
		}
		if resp.StatusCode == http.StatusOK && (strings.Contains(string(body), testSecret) || !strings.Contains(string(body), "(redacted)")) {
			t.Errorf("config not redacted: %s", body)
		}
	}
}

// TestAdminLoopbackOnly: with auth off, the admin API answers on a
// loopback listener only, unless admin.public is set.
func TestAdminLoopbackOnly(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP(t)
	for _, public := range []bool{false, true} {
		s := testkit.Start(t, func(c *config.Config) { c.HTTP.Addr = ip + ":0"; c.Admin.Public = public })
		resp, err := http.Get(s.URL + "/v1/admin/stats")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusForbidden
		if public {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Errorf("public %v on %s: %d, want %d", public, ip, resp.StatusCode, want)
		}
	}
}

// publishHTTP publishes over POST /v1/publish/<path> (path may carry a query).
func publishHTTP(t *testing.T, s *testkit.Server, path, payload string) {
	t.Helper()
	resp, err := http.Post(s.URL+"/v1/publish/"+path, "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("publish %s: %d", path, resp.StatusCode)
	}
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// nonLoopbackIP is an address of this machine that is not loopback, or
// the test is skipped.
func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// loginAnswer is the answer of /v1/admin/login and /v1/admin/session.
type loginAnswer struct {
	SignedIn bool      `json:"signed_in"`
	CSRF     string    `json:"csrf"`
	Expires  time.Time `json:"expires"`
}

// login posts credentials to /v1/admin/login and returns the status, the
// cookies set and the answer.
func login(t *testing.T, s *testkit.Server, body string) (int, []*http.Cookie, loginAnswer) {
	t.Helper()
	resp, err := http.Post(s.URL+"/v1/admin/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer loginAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, resp.Cookies(), answer
}

// TestAdminLoginSession: only an admin signs in; the session cookie then
// authenticates the admin API, /v1/publish and /v1/ws, and a
// state-changing request with it needs the CSRF token.
func TestAdminLoginSession(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	if code, _, _ := login(t, s, `{"user":"alice","password":"alice-pw"}`); code != http.StatusForbidden {
		t.Errorf("non-admin login: %d, want 403", code)
	}
	if code, _, _ := login(t, s, `{"user":"root","password":"wrong"}`); code != http.StatusUnauthorized {
		t.Errorf("bad password: %d, want 401", code)
	}
	// The CSRF token is in the answer only, in no cookie a page of another
	// port could read.
	code, cookies, answer := login(t, s, `{"user":"root","password":"root-pw"}`)
	if code != http.StatusOK || len(cookies) != 1 || answer.CSRF == "" {
		t.Fatalf("admin login: %d, cookies %v, answer %+v", code, cookies, answer)
	}
	csrf := answer.CSRF
	if c := cookies[0]; c.Name != "streamhub_session" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict", c)
	}
	do := func(method, path, token string) int {
		req, _ := http.NewRequestWithContext(t.Context(), method, s.URL+path, strings.NewReader("x"))
		for _, c := range cookies {
			req.AddCookie(c)
		}
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/admin/clients", "", http.StatusOK},
		{"DELETE", "/v1/admin/clients/999", "", http.StatusUnauthorized},
		{"DELETE", "/v1/admin/clients/999", "forged", http.StatusUnauthorized},
		{"DELETE", "/v1/admin/clients/999", csrf, http.StatusNotFound},
		{"POST", "/v1/publish/dash/x", "", http.StatusUnauthorized},
		{"POST", "/v1/publish/dash/x", csrf, http.StatusOK},
	} {
		if got := do(c.method, c.path, c.token); got != c.want {
			t.Errorf("%s %s (csrf %q): %d, want %d", c.method, c.path, c.token, got, c.want)
		}
	}
	if got := do("POST", "/v1/admin/logout", csrf); got != http.StatusNoContent {
		t.Fatalf("logout: %d", got)
	}
	if got := do("GET", "/v1/admin/clients", ""); got != http.StatusUnauthorized {
		t.Errorf("after logout: %d, want 401", got)
	}
}

// TestAdminKickEachTransport: a kicked NDJSON, WebSocket (plain and JSON),
// long-poll and TCP text client each hears its protocol's reason; a
// dialled raw TCP peer is listed too, and kicked it is dialled again.
func TestAdminKickEachTransport(t *testing.T) {
	t.Parallel()
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second)) // a dialler that never comes fails the test
	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.Addr = "127.0.0.1:0"
		c.TCP.Outdial = []string{peer.Addr().String() + "=kick/dial"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	t.Run("ndjson", func(t *testing.T) {
		resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=kick/ndjson", "application/x-ndjson")
		defer resp.Body.Close()
		kick(t, s, waitClient(t, s, "ndjson", "kick/ndjson").ID)
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `{"type":"close","reason":"kicked"}`) {
			t.Errorf("NDJSON ended with %q", body)
		}
	})
	for _, path := range []string{"/v1/ws/kick/plain", "/v1/ws"} {
		t.Run("ws "+path, func(t *testing.T) {
			c, _, err := websocket.Dial(ctx, s.WSURL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			filter := "kick/plain"
			if path == "/v1/ws" {
				filter = "kick/json"
				if err := c.Write(ctx, websocket.MessageText, []byte(`{"op":"sub","topics":["kick/json"]}`)); err != nil {
					t.Fatal(err)
				}
			}
			kick(t, s, waitClient(t, s, "ws", filter).ID)
			for {
				if _, _, err = c.Read(ctx); err != nil {
					break
				}
			}
			if status := websocket.CloseStatus(err); status != 4000 {
				t.Errorf("closed with %v (%d), want 4000", err, status)
			}
		})
	}
	t.Run("longpoll", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			resp := testkit.Get(t, ctx, s.URL+"/v1/poll?topic=kick/poll&timeout=60s", "")
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		kick(t, s, waitClient(t, s, "longpoll", "kick/poll").ID)
		select {
		case code := <-done:
			if code != http.StatusOK {
				t.Errorf("poll answered %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the kicked poll was not answered")
		}
	})
	t.Run("tcp-out-dial", func(t *testing.T) {
		first, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		kick(t, s, waitClient(t, s, "tcp-out-dial", "kick/dial").ID)
		first.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(first); err != nil {
			t.Errorf("the kicked peer's connection: %v, want it closed", err)
		}
		again, err := peer.Accept()
		if err != nil {
			t.Fatal(err)
		}
		again.Close()
	})
	t.Run("tcp-text", func(t *testing.T) {
		tc, err := net.Dial("tcp", s.TCP().TextAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer tc.Close()
		fmt.Fprintf(tc, "SUB kick/text\n")
		kick(t, s, waitClient(t, s, "tcp-text", "kick/text").ID)
		tc.SetReadDeadline(time.Now().Add(10 * time.Second))
		out, _ := io.ReadAll(tc)
		if !strings.Contains(string(out), "-ERR kicked") {
			t.Errorf("TCP text ended with %q", out)
		}
	})
}
