package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

const testSecret = "a-test-secret-for-hs256-tokens"

func token(t *testing.T, sub string, exp time.Time, roles ...string) string {
	t.Helper()
	claims := jwt.MapClaims{"sub": sub, "exp": exp.Unix(), "roles": roles}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func securedServer(t *testing.T) *testkit.Server {
	t.Helper()
	hash := func(pw string) string {
		h, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		return string(h)
	}
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("# test users\nalice:"+hash("alice-pw")+"\nroot:"+hash("root-pw")+":admin\n"), 0o600)
	return testkit.Start(t, func(c *config.Config) {
		c.TCP.Addr = "127.0.0.1:0"
		c.Auth = config.Auth{Required: true, Users: users, JWT: config.JWT{Secret: testSecret},
			Failures: c.Auth.Failures, Failureinterval: c.Auth.Failureinterval, ACL: []config.ACL{
				{Who: "*", Publish: []string{"users/%u/#", "public/#"}, Subscribe: []string{"public/#", "users/%u/#"}},
				{Who: "role:admin", Publish: []string{"#"}, Subscribe: []string{"#", "$SYS/#"}},
			}}
	})
}

// credential is one way a client presents itself, and the refusal expected.
type credential struct {
	name       string
	user, pass string // user name and password
	token      string // or a token
	refused    bool   // refused at authentication
	mayUse     bool   // may publish and subscribe to users/alice/#
}

func credentials(t *testing.T) []credential {
	return []credential{
		{name: "no credentials", refused: true},
		{name: "wrong password", user: "alice", pass: "nope", refused: true},
		{name: "expired token", token: token(t, "alice", time.Now().Add(-time.Minute)), refused: true},
		{name: "token without the right", token: token(t, "bob", time.Now().Add(time.Hour))},
		{name: "valid password", user: "alice", pass: "alice-pw", mayUse: true},
		{name: "valid token", token: token(t, "alice", time.Now().Add(time.Hour)), mayUse: true},
	}
}

func (c credential) apply(req *http.Request) {
	switch {
	case c.token != "":
		req.Header.Set("Authorization", "Bearer "+c.token)
	case c.user != "":
		req.SetBasicAuth(c.user, c.pass)
	}
}

// TestSecurityMatrix: every protocol × every kind of credential × publish
// and subscribe, with each protocol's own refusal.
func TestSecurityMatrix(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, c := range credentials(t) {
		wantHTTP := http.StatusOK
		switch {
		case c.refused:
			wantHTTP = http.StatusUnauthorized
		case !c.mayUse:
			wantHTTP = http.StatusForbidden
		}
		// HTTP publish.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/publish/users/alice/x", strings.NewReader("hi"))
		c.apply(req)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != wantHTTP {
			t.Errorf("%s: HTTP publish answered %v %v, want %d", c.name, resp.StatusCode, err, wantHTTP)
		} else {
			checkErrorBody(t, c.name+" HTTP publish", resp)
		}
		// SSE, NDJSON and long poll subscriptions; the token also travels as ?token=.
		for _, path := range []string{"/v1/subscribe?format=sse&", "/v1/subscribe?format=ndjson&", "/v1/poll?timeout=0&"} {
			u := s.URL + path + "topic=" + url.QueryEscape("users/alice/#")
			if c.token != "" {
				u += "&token=" + c.token
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if c.token == "" {
				c.apply(req)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != wantHTTP {
				t.Errorf("%s: GET %s answered %v %v, want %d", c.name, path, resp.StatusCode, err, wantHTTP)
				continue
			}
			checkErrorBody(t, c.name+" "+path, resp)
			resp.Body.Close()
		}
		// WebSocket JSON protocol: refused at the upgrade, or per request.
		opts := &websocket.DialOptions{HTTPHeader: http.Header{}}
		if c.token != "" {
			opts.HTTPHeader.Set("Authorization", "Bearer "+c.token)
		} else if c.user != "" {
			req, _ := http.NewRequest("GET", "/", nil)
			c.apply(req)
			opts.HTTPHeader.Set("Authorization", req.Header.Get("Authorization"))
		}
		ws, resp, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", opts)
		switch {
		case c.refused:
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: WebSocket upgrade not refused with 401: %v", c.name, err)
			}
		case err != nil:
			t.Errorf("%s: WebSocket: %v", c.name, err)
		default:
			for _, frame := range []string{`{"op":"pub","topic":"users/alice/x","payload":"hi","id":"1"}`, `{"op":"sub","topics":["users/alice/#"],"id":"2"}`} {
				ws.Write(ctx, websocket.MessageText, []byte(frame))
				_, data, err := ws.Read(ctx)
				forbidden := strings.Contains(string(data), `"code":"forbidden"`)
				if err != nil || forbidden == c.mayUse {
					t.Errorf("%s: WebSocket %s answered %s %v", c.name, frame, data, err)
				}
			}
			ws.CloseNow()
		}
		// Plain WebSocket on the topic: refused at the upgrade without the
		// right to subscribe (401 or 403); allowed, a frame publishes.
		plain, resp, err := websocket.Dial(ctx, s.WSURL+"/v1/ws/users/alice/x", opts)
		switch {
		case wantHTTP != http.StatusOK:
			if err == nil || resp == nil || resp.StatusCode != wantHTTP {
				t.Errorf("%s: plain WebSocket upgrade answered %v, want %d", c.name, err, wantHTTP)
			}
		case err != nil:
			t.Errorf("%s: plain WebSocket: %v", c.name, err)
		default:
			if err := plain.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Errorf("%s: plain WebSocket publish: %v", c.name, err)
			}
			plain.CloseNow()
		}
		// MQTT 5.
		checkMQTT(t, s, c)
		// TCP text protocol.
		checkTCPText(t, s, c)
	}
}

func checkErrorBody(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	if resp.StatusCode < 400 {
		return
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(resp.Body)
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s: error body %q", what, b)
	}
}

func checkMQTT(t *testing.T, s *testkit.Server, c credential) {
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	client := paho.NewClient(paho.ClientConfig{Conn: nc})
	cp := &paho.Connect{ClientID: "sec-" + strings.ReplaceAll(c.name, " ", "-"), CleanStart: true, KeepAlive: 30}
	switch {
	case c.token != "":
		cp.Password, cp.PasswordFlag = []byte(c.token), true
	case c.user != "":
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = c.user, true, []byte(c.pass), true
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := client.Connect(ctx, cp)
	if c.refused {
		want := byte(0x86)
		if c.user == "" && c.token == "" {
			want = 0x87
		}
		if ca == nil || ca.ReasonCode != want {
			t.Errorf("%s: MQTT CONNACK %+v %v, want %#x", c.name, ca, err, want)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: MQTT connect: %v", c.name, err)
		return
	}
	defer client.Disconnect(&paho.Disconnect{})
	pr, err := client.Publish(ctx, &paho.Publish{Topic: "users/alice/x", QoS: 1, Payload: []byte("hi")})
	if c.mayUse && (err != nil || pr.ReasonCode != 0) || !c.mayUse && (pr == nil || pr.ReasonCode != 0x87) {
		t.Errorf("%s: MQTT PUBACK %+v %v", c.name, pr, err)
	}
	sa, err := client.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "users/alice/#", QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 1 || (sa.Reasons[0] == 0x87) == c.mayUse || (c.mayUse && err != nil) {
		t.Errorf("%s: MQTT SUBACK %+v %v", c.name, sa, err)
	}
}

func checkTCPText(t *testing.T, s *testkit.Server, c credential) {
	conn, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	say := func(line string) string {
		fmt.Fprint(conn, line)
		reply, _ := r.ReadString('\n')
		return reply
	}
	switch {
	case c.token != "":
		if reply := say("AUTH " + c.token + "\n"); strings.HasPrefix(reply, "+OK") == c.refused {
			t.Errorf("%s: TCP AUTH answered %q", c.name, reply)
		}
	case c.user != "":
		if reply := say("AUTH " + c.user + " " + c.pass + "\n"); strings.HasPrefix(reply, "+OK") == c.refused {
			t.Errorf("%s: TCP AUTH answered %q", c.name, reply)
		}
	}
	want := "+OK"
	switch {
	case c.refused:
		want = "-ERR unauthorized"
	case !c.mayUse:
		want = "-ERR forbidden"
	}
	for _, cmd := range []string{"PUB users/alice/x 2\nhi\n", "SUB users/alice/#\n"} {
		if reply := say(cmd); !strings.HasPrefix(reply, want) {
			t.Errorf("%s: TCP %q answered %q, want %s", c.name, cmd, reply, want)
		}
	}
}

// TestNoLeaks: a subscriber whose wildcard reaches beyond its rights gets
// only what it may read: live, retained, replayed history, and no $SYS.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	root := token(t, "root", time.Now().Add(time.Hour), "admin")
	alice := token(t, "alice", time.Now().Add(time.Hour))
	pub := func(topicName, payload, query string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/publish/"+topicName+query, strings.NewReader(payload))
		req.Header.Set("Authorization", "Bearer "+root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("publish %s: %v %v", topicName, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	pub("private/retained", "secret", "?retain=true")
	pub("public/retained", "open", "?retain=true")
	pub("private/history", "secret", "")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	first := fmt.Sprintf("%s-0", s.Hub().Epoch())
	// Fresh subscription (retained) and a resume from the start (history).
	live := &collector{}
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?format=ndjson&topic=%23&token="+alice, "")
	go func() { defer resp.Body.Close(); readEnvelopes(resp.Body, live) }()
	replay := &collector{}
	resp2 := testkit.Get(t, ctx, s.URL+"/v1/subscribe?format=ndjson&topic=%23&cursor="+first+"&token="+alice, "")
	go func() { defer resp2.Body.Close(); readEnvelopes(resp2.Body, replay) }()
	s.WaitSubscribers(t, "#", 2)
	pub("private/live", "secret", "")
	pub("users/bob/live", "secret", "")
	s.Hub().Publish(ctx, &message.Message{Topic: "$SYS/broker/uptime", Payload: []byte("secret")})
	pub("users/alice/live", "mine", "")
	pub("public/live", "open", "")
	testkit.Eventually(t, 10*time.Second, "readable messages", func() bool {
		a, _ := live.snapshot()
		b, _ := replay.snapshot()
		return len(a) >= 3 && len(b) >= 3
	})
	time.Sleep(100 * time.Millisecond)
	for name, c := range map[string]*collector{"fresh": live, "replay": replay} {
		got, _ := c.snapshot()
		for _, m := range got {
			if string(m.payload) == "secret" {
				t.Errorf("%s subscription leaked %s", name, m.topic)
			}
		}
	}
	// $SYS is for admins only.
	resp3 := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=%24SYS/%23&token="+alice, "")
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusForbidden {
		t.Errorf("$SYS subscription by a user answered %d", resp3.StatusCode)
	}
	resp4 := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=%24SYS/%23&token="+root, "")
	resp4.Body.Close()
	if resp4.StatusCode != http.StatusOK {
		t.Errorf("$SYS subscription by an admin answered %d", resp4.StatusCode)
	}
}

// TestRefusedFilterNotEchoedWhole: a subscribe refused by the policy over
// the TCP text protocol and the WebSocket JSON protocol names the filter
// quoted and cut, as HTTP does, not the whole 10 KB the client sent.
func TestRefusedFilterNotEchoedWhole(t *testing.T) {
	s := securedServer(t)
	long := "private/" + strings.Repeat("x", 10000)

	conn, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	fmt.Fprint(conn, "AUTH alice alice-pw\nSUB "+long+"\n")
	if reply, _ := r.ReadString('\n'); !strings.HasPrefix(reply, "+OK") {
		t.Fatalf("AUTH answered %q", reply)
	}
	if reply, _ := r.ReadString('\n'); !strings.HasPrefix(reply, "-ERR forbidden") || len(reply) > 300 {
		t.Errorf("TCP SUB refusal: %d bytes starting %.60q", len(reply), reply)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pw"))}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	req, _ := json.Marshal(map[string]any{"op": "sub", "id": "1", "topics": []string{long}})
	if err := c.Write(ctx, websocket.MessageText, req); err != nil {
		t.Fatal(err)
	}
	_, reply, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reply), `"forbidden"`) || len(reply) > 400 {
		t.Errorf("WebSocket subscribe refusal: %d bytes starting %.80q", len(reply), reply)
	}
}
