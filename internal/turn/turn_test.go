package turn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	pturn "github.com/pion/turn/v5"

	"streamhub/internal/limit"
	"streamhub/internal/transport/kit/acceptloop"
)

func start(t *testing.T, perIdentity int) *Server {
	t.Helper()
	return startWith(t, perIdentity, acceptloop.Admission{})
}

func startWith(t *testing.T, perIdentity int, admit acceptloop.Admission) *Server {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0", TCP: true, Relay: net.IPv4(127, 0, 0, 1), MinPort: 43000, MaxPort: 43999,
		Realm: "streamhub", Secret: []byte("s3cret"), TTL: time.Hour, PerIdentity: perIdentity, Admission: admit},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// allocate asks s for a relay with username and password, as a browser's
// ICE agent does.
func allocate(t *testing.T, s *Server, username, password string) (net.PacketConn, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: s.Addr().String(), TURNServerAddr: s.Addr().String(),
		Username: username, Password: password, Realm: "streamhub", Conn: conn, RTO: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	return c.Allocate()
}

func TestAllocatesWithMintedCredentialsOnly(t *testing.T) {
	s := start(t, 0)
	c := s.Credentials("alice", time.Now(), time.Time{})
	if c.TTL != 3600 || len(c.URIs) != 2 {
		t.Fatalf("credentials %+v", c)
	}
	relay, err := allocate(t, s, c.Username, c.Password)
	if err != nil {
		t.Fatalf("allocate with minted credentials: %v", err)
	}
	relay.Close()

	expired := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10) + ":alice"
	for name, up := range map[string][2]string{
		"wrong password":  {c.Username, Password([]byte("other"), c.Username)},
		"expired":         {expired, Password([]byte("s3cret"), expired)},
		"not our scheme":  {"alice", Password([]byte("s3cret"), "alice")},
		"identity forged": {c.Username + "x", c.Password},
	} {
		if _, err := allocate(t, s, up[0], up[1]); err == nil {
			t.Errorf("%s: allocated", name)
		}
	}
}

func TestCredentialsEndWithTheToken(t *testing.T) {
	s := start(t, 0)
	now := time.Now()
	c := s.Credentials("alice", now, now.Add(10*time.Minute))
	if c.TTL != 600 || c.Username != strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)+":alice" {
		t.Fatalf("credentials %+v: want them to end with the token, in 10 minutes", c)
	}
}

func TestAllocationsPerIdentityBounded(t *testing.T) {
	s := start(t, 1)
	alice := s.Credentials("alice", time.Now(), time.Time{})
	if _, err := allocate(t, s, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := allocate(t, s, alice.Username, alice.Password); err == nil {
		t.Fatal("alice got a second allocation past the bound of 1")
	}
	bob := s.Credentials("bob", time.Now(), time.Time{})
	if _, err := allocate(t, s, bob.Username, bob.Password); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if st := s.Stats(); st.Allocations != 2 || st.AllocationsTotal != 2 || st.Refused != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPublicRelayRefusesPrivatePeers(t *testing.T) {
	for ip, ok := range map[string]bool{"127.0.0.1": false, "10.1.2.3": false, "192.168.0.1": false, "169.254.1.1": false,
		"0.0.0.0": false, "::1": false, "fd00::1": false, "224.0.0.1": false, "203.0.113.7": true, "2001:db8::1": true} {
		if got := publicPeer(nil, net.ParseIP(ip)); got != ok {
			t.Errorf("%s: permitted %v, want %v", ip, got, ok)
		}
	}
}

// TestTCPThroughTheAdmission: TURN over TCP allocates with the same
// credentials, and its connections take slots of limits.connections.
func TestTCPThroughTheAdmission(t *testing.T) {
	s := startWith(t, 0, acceptloop.Admission{Transport: "turn", Conns: limit.NewConns(1, 0)})
	c := s.Credentials("alice", time.Now(), time.Time{})
	first, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	cl, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: s.Addr().String(), TURNServerAddr: s.Addr().String(),
		Username: c.Username, Password: c.Password, Realm: "streamhub", Conn: pturn.NewSTUNConn(first)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocate over TCP: %v", err)
	}
	defer relay.Close()
	// The one slot is taken: a second connection is closed unanswered.
	second, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := second.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second connection over limits.connections: read %d, %v; want it closed", n, err)
	}
}
