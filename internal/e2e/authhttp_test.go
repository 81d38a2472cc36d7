package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// authService is an auth.http login service for tests, on a fixed address
// so that it can be down for a while and come back. It allows dev with
// password dev-pw, and the opaque token dev-token, with rights on
// devices/dev/# and media/live/#; it denies everything else.
type authService struct {
	t    *testing.T
	addr string
	URL  string
	// mode: "" answers; "refusing" answers 503; "slow" answers only when
	// the caller gave up.
	mode atomic.Value
	mu   sync.Mutex
	srv  *httptest.Server
	// calls counts the calls by protocol and by user name or token.
	calls map[string]int
}

func newAuthService(t *testing.T) *authService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &authService{t: t, addr: ln.Addr().String(), calls: map[string]int{}}
	a.URL = "http://" + a.addr + "/login"
	a.mode.Store("")
	a.startOn(ln)
	t.Cleanup(a.stop)
	return a
}

func (a *authService) startOn(ln net.Listener) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	a.mu.Lock()
	a.srv = srv
	a.mu.Unlock()
}

// stop takes the service down: its port refuses connections.
func (a *authService) stop() {
	a.mu.Lock()
	srv := a.srv
	a.srv = nil
	a.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// start brings it back on the same address.
func (a *authService) start() {
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		a.t.Fatalf("auth service back on %s: %v", a.addr, err)
	}
	a.startOn(ln)
}

func (a *authService) serve(w http.ResponseWriter, r *http.Request) {
	var req struct{ Protocol, Username, Password, Token, ClientID string }
	if r.Method != http.MethodPost || r.URL.Path != "/login" || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "want a JSON POST to /login", http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.calls["protocol:"+req.Protocol]++
	a.calls["user:"+req.Username+req.Token]++
	a.mu.Unlock()
	switch a.mode.Load() {
	case "refusing":
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	case "slow":
		<-r.Context().Done()
		return
	}
	if req.Username == "dev" && req.Password == "dev-pw" || req.Token == "dev-token" {
		w.Write([]byte(`{"result":"allow","user":"dev","publish":["devices/dev/#","media/live/#"],"subscribe":["devices/dev/#","media/live/#"]}`))
		return
	}
	w.Write([]byte(`{"result":"deny"}`))
}

func (a *authService) count(key string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[key]
}

// authHTTPServer starts a server that needs credentials, with a users file
// (root, password root-pw, admin), a rule letting everyone authenticated
// read public/#, and the login service at svc.
func authHTTPServer(t *testing.T, svc *authService, mutate func(*config.Config)) *testkit.Server {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("root-pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("root:"+string(hash)+":admin\n"), 0o600)
	return testkit.Start(t, func(c *config.Config) {
		c.TCP.Addr = "127.0.0.1:0"
		c.HLS.Segmentduration, c.HLS.Segments = 500*time.Millisecond, 3
		c.Auth.Required, c.Auth.Users = true, users
		c.Auth.ACL = []config.ACL{{Who: "*", Subscribe: []string{"public/#"}}}
		c.Auth.HTTP.URL, c.Auth.HTTP.Timeout = svc.URL, 2*time.Second
		if mutate != nil {
			mutate(c)
		}
	})
}

// mqttLogin connects a paho.golang v5 client and returns it with the
// CONNACK's reason code (the client is nil when refused).
func mqttLogin(t *testing.T, s *testkit.Server, clientID, user, pass string) (*paho.Client, byte) {
	t.Helper()
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(pass), PasswordFlag: true})
	if ca == nil {
		t.Fatalf("MQTT connect as %s: no CONNACK: %v", user, err)
	}
	if ca.ReasonCode != 0 {
		nc.Close()
		return nil, ca.ReasonCode
	}
	t.Cleanup(func() { c.Disconnect(&paho.Disconnect{}) })
	return c, 0
}

// httpStatus sends a request with an Authorization header and returns its
// status and error code (from the JSON error body, if any).
func httpStatus(t *testing.T, method, u, authorization, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, "" // a live stream: the status says enough
	}
	var e struct{ Error struct{ Code string } }
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("%s %s: %d without a JSON body: %q", method, u, resp.StatusCode, b)
	}
	return resp.StatusCode, e.Error.Code
}

// tcpAuth sends AUTH and then each command over the TCP text protocol,
// returning the first line of every reply.
func tcpAuth(t *testing.T, s *testkit.Server, auth string, cmds ...string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	var replies []string
	for _, cmd := range append([]string{"AUTH " + auth + "\n"}, cmds...) {
		fmt.Fprint(conn, cmd)
		line, _ := r.ReadString('\n')
		replies = append(replies, strings.TrimSpace(line))
	}
	return replies
}

// TestAuthHTTPEveryProtocol: logins over HTTP (Basic and Bearer), SSE,
// WebSocket, MQTT (paho v5 and mosquitto_pub 3.1.1), the TCP text
// protocol, WHIP and WHEP go through the login service, which is told the
// protocol; the rights it answers are enforced with each protocol's
// refusal, and its denies too.
func TestAuthHTTPEveryProtocol(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t)
	s := authHTTPServer(t, svc, nil)
	devBasic, devBearer := basicAuth("dev", "dev-pw"), "Bearer dev-token"

	// HTTP publish, Basic and Bearer: own topic allowed, another 403.
	for _, c := range []struct {
		authorization, topic string
		status               int
		code                 string
	}{
		{devBasic, "devices/dev/x", 200, ""},
		{devBearer, "devices/dev/x", 200, ""},
		{devBasic, "devices/other/x", 403, "forbidden"},
		{basicAuth("dev", "wrong"), "devices/dev/x", 401, "unauthorized"},
		{"Bearer other-token", "devices/dev/x", 401, "invalid_token"},
	} {
		if status, code := httpStatus(t, http.MethodPost, s.URL+"/v1/publish/"+c.topic, c.authorization, "hi"); status != c.status || code != c.code {
			t.Errorf("publish to %s with %q: %d %q, want %d %q", c.topic, c.authorization, status, code, c.status, c.code)
		}
	}
	// SSE: a subscription beyond the answer's rights is refused.
	if status, _ := httpStatus(t, http.MethodGet, s.URL+"/v1/poll?timeout=0&topic=devices/dev/%23", devBasic, ""); status != 200 {
		t.Errorf("long poll on own topics: %d", status)
	}
	if status, code := httpStatus(t, http.MethodGet, s.URL+"/v1/subscribe?topic=devices/other/%23", devBasic, ""); status != 403 || code != "forbidden" {
		t.Errorf("SSE on another's topics: %d %q, want 403 forbidden", status, code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sse, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=devices/dev/%23", nil)
	sse.Header.Set("Authorization", devBasic)
	if resp, err2 := http.DefaultClient.Do(sse); err != nil || err2 != nil || resp.StatusCode != 200 {
		t.Errorf("SSE on own topics: %v %v", resp, err2)
	} else {
		resp.Body.Close()
	}

	// WebSocket: the upgrade logs in; rights apply per request.
	ws, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {devBasic}}})
	if err != nil {
		t.Fatalf("WebSocket: %v", err)
	}
	for frame, forbidden := range map[string]bool{
		`{"op":"pub","topic":"devices/dev/x","payload":"hi","id":"1"}`:   false,
		`{"op":"pub","topic":"devices/other/x","payload":"hi","id":"2"}`: true,
	} {
		ws.Write(ctx, websocket.MessageText, []byte(frame))
		_, data, err := ws.Read(ctx)
		if err != nil || strings.Contains(string(data), `"forbidden"`) != forbidden {
			t.Errorf("WebSocket %s: %s %v", frame, data, err)
		}
	}
	ws.CloseNow()
	if _, resp, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {basicAuth("dev", "no")}}}); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Errorf("WebSocket with a denied password: %v, want 401", err)
	}

	// MQTT 5: PUBACK and SUBACK 0x87 beyond the answer's rights.
	mc, code := mqttLogin(t, s, "sensor-1", "dev", "dev-pw")
	if code != 0 {
		t.Fatalf("MQTT CONNACK 0x%02x", code)
	}
	for topic, want := range map[string]byte{"devices/dev/x": 0, "devices/other/x": 0x87} {
		pr, err := mc.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("hi")})
		if pr == nil || pr.ReasonCode != want {
			t.Errorf("MQTT publish to %s: %+v %v, want 0x%02x", topic, pr, err, want)
		}
	}
	sa, err := mc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "devices/dev/#", QoS: 1}, {Topic: "devices/other/#", QoS: 1}, {Topic: "public/#", QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 3 || sa.Reasons[0] != 1 || sa.Reasons[1] != 0x87 || sa.Reasons[2] != 1 {
		t.Errorf("MQTT SUBACK %+v %v, want [1 0x87 1]", sa, err)
	}
	if _, code := mqttLogin(t, s, "sensor-2", "dev", "wrong"); code != 0x86 {
		t.Errorf("MQTT with a denied password: 0x%02x, want 0x86", code)
	}
	// MQTT 3.1.1 with Debian's mosquitto_pub.
	if _, err := exec.LookPath("mosquitto_pub"); err == nil {
		host, port, _ := net.SplitHostPort(s.MQTT().Addr("mqtt").String())
		for pass, ok := range map[string]bool{"dev-pw": true, "wrong": false} {
			out, err := exec.CommandContext(ctx, "mosquitto_pub", "-h", host, "-p", port, "-V", "mqttv311", "-q", "1",
				"-u", "dev", "-P", pass, "-t", "devices/dev/x", "-m", "hi").CombinedOutput()
			if (err == nil) != ok {
				t.Errorf("mosquitto_pub with password %s: %v %s", pass, err, out)
			}
		}
	}

	// TCP text protocol: AUTH user password and AUTH token.
	for _, c := range []struct {
		auth string
		want []string
	}{
		{"dev dev-pw", []string{"+OK", "+OK", "-ERR forbidden"}},
		{"dev-token", []string{"+OK", "+OK", "-ERR forbidden"}},
		{"dev wrong", []string{"-ERR unauthorized", "-ERR unauthorized", "-ERR unauthorized"}},
	} {
		got := tcpAuth(t, s, c.auth, "PUB devices/dev/x 2\nhi\n", "PUB devices/other/x 2\nhi\n")
		for i := range c.want {
			if !strings.HasPrefix(got[i], c.want[i]) {
				t.Errorf("TCP AUTH %s: replies %q, want %q", c.auth, got, c.want)
				break
			}
		}
	}

	// WHIP and WHEP: past the login and the right (no SDP offer: 415), or
	// refused by the answer (403) or the deny (401).
	for _, c := range []struct {
		path, authorization string
		status              int
	}{
		{"/v1/whip/live/dev", devBearer, 415},
		{"/v1/whep/live/dev", devBasic, 0}, // not published: anything but a refusal of the login or the right
		{"/v1/whip/other/dev", devBearer, 403},
		{"/v1/whep/live/dev", basicAuth("dev", "nope"), 401},
	} {
		status, code := httpStatus(t, http.MethodPost, s.URL+c.path, c.authorization, "not an offer")
		if c.status == 0 && (status == 401 || status == 403) || c.status != 0 && status != c.status {
			t.Errorf("%s: %d %s, want %d", c.path, status, code, c.status)
		}
	}

	for _, p := range []string{"http", "ws", "mqtt", "tcp", "whip", "whep"} {
		if svc.count("protocol:"+p) == 0 {
			t.Errorf("the login service was never asked about a %s login", p)
		}
	}
}

// TestAuthHTTPMedia: RTMP (?user=&pass=) and RTSP (Basic) logins of ffmpeg
// go through the login service, and its rights decide who publishes and
// reads media/live/#.
func TestAuthHTTPMedia(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	svc := newAuthService(t)
	s := authHTTPServer(t, svc, nil)
	rtmpURL := "rtmp://" + s.RTMP().Addr() + "/live/cam1"
	gen := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-c:v", "libx264", "-f", "flv"}
	ffmpegFails(t, "ffmpeg", append(gen, rtmpURL+"?user=dev&pass=wrong")...)
	ffmpegFails(t, "ffmpeg", append(gen, "rtmp://"+s.RTMP().Addr()+"/other/cam1?user=dev&pass=dev-pw")...)
	publishFFmpeg(t, "flv", rtmpURL+"?user=dev&pass=dev-pw")
	waitOnline(t, s, "live/cam1")

	rtspHost := s.RTSP().Addr()
	ffmpegFails(t, "ffprobe", "-v", "error", "rtsp://dev:wrong@"+rtspHost+"/live/cam1")
	wantH264AAC(t, probe(t, "rtsp://dev:dev-pw@"+rtspHost+"/live/cam1", "-rtsp_transport", "tcp"))
	wantH264AAC(t, probe(t, rtmpURL+"?token=dev-token"))
	for _, p := range []string{"rtmp", "rtsp"} {
		if svc.count("protocol:"+p) == 0 {
			t.Errorf("the login service was never asked about a %s login", p)
		}
	}
}

// metric reads one sample of /metrics (0 when absent).
func metric(t *testing.T, s *testkit.Server, sample string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestAuthHTTPCache: the same credentials again are answered from the cache
// (no second call; counted as a cache hit), over any protocol that sends the
// same ones.
func TestAuthHTTPCache(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t)
	s := authHTTPServer(t, svc, nil)
	for range 3 {
		if status, _ := httpStatus(t, http.MethodPost, s.URL+"/v1/publish/devices/dev/x", basicAuth("dev", "dev-pw"), "hi"); status != 200 {
			t.Fatalf("publish: %d", status)
		}
	}
	for range 2 {
		mqttLogin(t, s, "sensor-1", "dev", "dev-pw")
	}
	if n := svc.count("user:dev"); n != 2 {
		t.Errorf("%d calls for 3 HTTP and 2 MQTT logins with the same credentials, want 2 (one per protocol)", n)
	}
	if hits := metric(t, s, `streamhub_auth_http_cache_hits_total{result="allow"}`); hits != 3 {
		t.Errorf("cache hits %v, want 3", hits)
	}
	if calls := metric(t, s, `streamhub_auth_http_requests_total{result="allow"}`); calls != 2 {
		t.Errorf("calls counted %v, want 2", calls)
	}
}

// TestAuthHTTPFailClosed: while the login service is down, slow or
// refusing, its logins are refused as a server that is unavailable (MQTT
// 0x88, HTTP 503, TCP -ERR) and counted; the users file still logs its
// users in; once the service is back, so are its logins.
func TestAuthHTTPFailClosed(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t)
	s := authHTTPServer(t, svc, func(c *config.Config) { c.Auth.HTTP.Timeout = time.Second })
	refused := func(state string) {
		t.Helper()
		if _, code := mqttLogin(t, s, "sensor-"+state, "dev", "dev-pw"); code != 0x88 {
			t.Errorf("%s: MQTT CONNACK 0x%02x, want 0x88 server unavailable", state, code)
		}
		if status, code := httpStatus(t, http.MethodPost, s.URL+"/v1/publish/devices/dev/x", basicAuth("dev", "dev-pw"), "hi"); status != 503 || code != "unavailable" {
			t.Errorf("%s: HTTP publish %d %q, want 503 unavailable", state, status, code)
		}
		if got := tcpAuth(t, s, "dev-token"); !strings.HasPrefix(got[0], "-ERR unauthorized") {
			t.Errorf("%s: TCP AUTH %q, want -ERR unauthorized", state, got)
		}
		if _, code := mqttLogin(t, s, "root-"+state, "root", "root-pw"); code != 0 {
			t.Errorf("%s: the users file's root refused: 0x%02x", state, code)
		}
	}
	svc.stop()
	refused("down")
	svc.start()
	svc.mode.Store("slow")
	refused("slow")
	svc.mode.Store("refusing")
	refused("refusing")
	svc.mode.Store("")
	if _, code := mqttLogin(t, s, "sensor-back", "dev", "dev-pw"); code != 0 {
		t.Errorf("service back: MQTT CONNACK 0x%02x", code)
	}
	if n := metric(t, s, `streamhub_auth_http_requests_total{result="timeout"}`); n != 3 {
		t.Errorf("timeouts counted %v, want 3", n)
	}
	if n := metric(t, s, `streamhub_auth_http_requests_total{result="error"}`); n != 6 {
		t.Errorf("errors counted %v, want 6 (down and refusing, 3 each)", n)
	}
	if n := metric(t, s, `streamhub_auth_http_duration_seconds_count`); n != 10 {
		t.Errorf("latencies observed %v, want 10", n)
	}
}

// TestAuthHTTPFailOpen: with auth.http.fail open, a login the service
// cannot decide gets in as anonymous, with the anonymous rule's rights:
// none of the service's, nor those of rules for authenticated users.
func TestAuthHTTPFailOpen(t *testing.T) {
	t.Parallel()
	svc := newAuthService(t)
	s := authHTTPServer(t, svc, func(c *config.Config) {
		c.Auth.HTTP.Fail = "open"
		c.Auth.ACL = []config.ACL{{Who: "*", Subscribe: []string{"members/#"}}, {Who: "anonymous", Subscribe: []string{"public/#"}}}
	})
	svc.stop()
	mc, code := mqttLogin(t, s, "sensor-1", "dev", "anything")
	if code != 0 {
		t.Fatalf("fail open: MQTT CONNACK 0x%02x, want success", code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if pr, err := mc.Publish(ctx, &paho.Publish{Topic: "devices/dev/x", QoS: 1, Payload: []byte("hi")}); pr == nil || pr.ReasonCode != 0x87 {
		t.Errorf("publish without the service's rights: %+v %v, want 0x87", pr, err)
	}
	sa, err := mc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "public/#", QoS: 1}, {Topic: "members/#", QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 2 || sa.Reasons[0] != 1 || sa.Reasons[1] != 0x87 {
		t.Errorf("subscribe to public/# (anonymous rule) and members/# (authenticated users): %+v %v, want [1 0x87]", sa, err)
	}
	if status, _ := httpStatus(t, http.MethodGet, s.URL+"/v1/poll?timeout=0&topic="+url.QueryEscape("public/#"), basicAuth("dev", "x"), ""); status != 200 {
		t.Errorf("HTTP poll of public/#: %d, want 200", status)
	}
}
