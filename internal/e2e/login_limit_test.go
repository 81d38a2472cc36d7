package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// connack5 connects a paho.golang v5 client from the local address from
// (127.0.0.1, 127.0.0.2: any loopback address reaches the server) with a
// user name and password, and returns the CONNACK's reason code.
func connack5(t *testing.T, s *testkit.Server, from, user, pass string) byte {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.DialContext(t.Context(), "tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := paho.NewClient(paho.ClientConfig{Conn: nc})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho.Connect{ClientID: "limit-" + from, CleanStart: true, KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(pass), PasswordFlag: true})
	if ca == nil {
		t.Fatalf("connect from %s as %s: no CONNACK: %v", from, user, err)
	}
	if ca.ReasonCode == 0 {
		_ = c.Disconnect(&paho.Disconnect{})
	}
	return ca.ReasonCode
}

// TestFailedLoginsLimitedPerAddress: after auth.failures wrong passwords
// over MQTT from one address, that address is refused on every protocol,
// the right password included (MQTT 5 0x9F connection rate exceeded, HTTP
// 429 with JSON, the dashboard's sign-in 429), while another address still
// signs in.
func TestFailedLoginsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	failures := config.Defaults().Auth.Failures
	for i := range failures {
		if code := connack5(t, s, "127.0.0.1", "root", "wrong"); code != 0x86 {
			t.Fatalf("wrong password %d: reason 0x%02x, want 0x86", i+1, code)
		}
	}
	if code := connack5(t, s, "127.0.0.1", "root", "root-pw"); code != 0x9F {
		t.Errorf("right password after %d failures: reason 0x%02x, want 0x9F (connection rate exceeded)", failures, code)
	}
	resp := adminDo(t, s, http.MethodGet, "stats", basicAuth("root", "root-pw"))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), `"too_many_failures"`) {
		t.Errorf("HTTP Basic from the same address: %d %s, want 429 too_many_failures", resp.StatusCode, body)
	}
	if code, _, _ := login(t, s, `{"user":"root","password":"root-pw"}`); code != http.StatusTooManyRequests {
		t.Errorf("dashboard sign-in from the same address: %d, want 429", code)
	}
	if code := connack5(t, s, "127.0.0.2", "root", "root-pw"); code != 0 {
		t.Errorf("right password from another address: reason 0x%02x, want success", code)
	}
}

// TestDashboardSessionEndsWithItsToken: a dashboard session opened with a
// JWT expiring in seconds says so, and is refused once the token expired,
// not 12 hours later.
func TestDashboardSessionEndsWithItsToken(t *testing.T) {
	t.Parallel()
	s := securedServer(t)
	exp := time.Now().Add(3 * time.Second)
	body, _ := json.Marshal(map[string]string{"token": token(t, "boss", exp, "admin")})
	code, cookies, answer := login(t, s, string(body))
	if code != http.StatusOK {
		t.Fatalf("sign-in with a token: %d", code)
	}
	if answer.Expires.After(exp) {
		t.Errorf("session expires %v, after its token (%v)", answer.Expires, exp)
	}
	status := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/v1/admin/clients", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusOK && time.Now().Before(exp) {
		t.Errorf("the session before its token expired: %d, want 200", got)
	}
	testkit.Eventually(t, 30*time.Second, "the session refused once its token expired", func() bool {
		return status() == http.StatusUnauthorized
	})
}
