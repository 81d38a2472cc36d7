package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	paho3 "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// ownersConfig is a server with auth on: alice and bob in a users file,
// each allowed home/<own name>/#, and whatever else mutate sets.
func ownersConfig(t *testing.T, mutate func(*config.Config)) func(*config.Config) {
	t.Helper()
	var users []byte
	for _, name := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, name+":"+string(h)+"\n"...)
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, users, 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *config.Config) {
		c.Auth = config.Auth{Required: true, Users: path, ACL: []config.ACL{
			{Who: "*", Publish: []string{"home/%u/#"}, Subscribe: []string{"home/%u/#"}}}}
		if mutate != nil {
			mutate(c)
		}
	}
}

// publishTo publishes a QoS 1 message in-process, as the house would.
func publishTo(t *testing.T, s *testkit.Server, topic, payload string) {
	t.Helper()
	if _, err := s.Hub().Publish(t.Context(), &message.Message{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
		t.Fatal(err)
	}
}

// user5 is an MQTT 5 client of one user with the client id alice-phone,
// clean start off and a session expiry of 600 s.
type user5 struct {
	client *paho.Client
	got    *received5
	ack    *paho.Connack
	kicked chan byte // reasons of DISCONNECTs from the server
}

func connectUser5(t *testing.T, s *testkit.Server, user string) user5 {
	t.Helper()
	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	u := user5{got: &received5{}, kicked: make(chan byte, 1)}
	u.client = paho.NewClient(paho.ClientConfig{Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			u.got.add(pr.Packet)
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { u.kicked <- d.ReasonCode },
	})
	expiry := uint32(600)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	u.ack, err = u.client.Connect(ctx, &paho.Connect{ClientID: "alice-phone", KeepAlive: 30,
		Username: user, UsernameFlag: true, Password: []byte(user + "-pw"), PasswordFlag: true,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if u.ack == nil {
		t.Fatalf("%s: connect: %v", user, err)
	}
	if u.ack.ReasonCode == 0 {
		t.Cleanup(func() { u.client.Disconnect(&paho.Disconnect{}) })
	}
	return u
}

// TestForeignClientIDGetsItsOwnSessionV5: bob connecting with alice's
// client id gets a fresh session of his own; he receives none of her
// queued or live messages, her live connection is not taken over, and she
// resumes her session with everything in it.
func TestForeignClientIDGetsItsOwnSessionV5(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, ownersConfig(t, nil))
	alice := connectUser5(t, s, "alice")
	subscribe5(t, alice.client, paho.SubscribeOptions{Topic: "home/alice/#", QoS: 1})
	alice.client.Disconnect(&paho.Disconnect{})
	publishTo(t, s, "home/alice/door", "queued")

	bob := connectUser5(t, s, "bob")
	if bob.ack.ReasonCode != 0 || bob.ack.SessionPresent {
		t.Fatalf("bob: CONNACK %#x, session present %v; want a fresh session", bob.ack.ReasonCode, bob.ack.SessionPresent)
	}
	alice = connectUser5(t, s, "alice")
	if !alice.ack.SessionPresent {
		t.Fatal("alice: her session is gone")
	}
	publishTo(t, s, "home/alice/door", "live")
	testkit.Eventually(t, 10*time.Second, "alice's messages", func() bool { return len(alice.got.list()) >= 2 })
	if got := alice.got.payloads(); !slices.Equal(got, []string{"queued", "live"}) {
		t.Errorf("alice got %q", got)
	}
	// Bob's session works, and is his alone: a message of his arrives
	// after alice's would have.
	subscribe5(t, bob.client, paho.SubscribeOptions{Topic: "home/bob/#", QoS: 1})
	publishTo(t, s, "home/bob/door", "bob's")
	testkit.Eventually(t, 10*time.Second, "bob's own message", func() bool { return len(bob.got.list()) > 0 })
	if got := bob.got.payloads(); !slices.Equal(got, []string{"bob's"}) {
		t.Errorf("bob got %q, want only his own message", got)
	}
	select {
	case r := <-alice.kicked:
		t.Errorf("alice was disconnected (reason %#x) by bob's connection", r)
	case r := <-bob.kicked:
		t.Errorf("bob was disconnected (reason %#x) by alice's connection", r)
	default:
	}
}

// mqtt3Client is a paho.mqtt.golang (3.1.1) client collecting payloads.
type mqtt3Client struct {
	paho3.Client
	mu  sync.Mutex
	got []string
}

func (c *mqtt3Client) payloads() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// connectUser3 connects user with client id alice-phone and clean session
// off; it returns the client and the CONNACK's return code and session
// present flag.
func connectUser3(t *testing.T, s *testkit.Server, user string) (c *mqtt3Client, code byte, present bool) {
	t.Helper()
	c = &mqtt3Client{}
	opts := paho3.NewClientOptions().AddBroker("tcp://" + s.MQTT().Addr("mqtt").String()).
		SetClientID("alice-phone").SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).
		SetUsername(user).SetPassword(user + "-pw").
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			c.mu.Lock()
			c.got = append(c.got, string(m.Payload()))
			c.mu.Unlock()
		})
	c.Client = paho3.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("%s: connect timed out", user)
	}
	ct := tok.(*paho3.ConnectToken)
	if ct.ReturnCode() == 0 {
		t.Cleanup(func() { c.Disconnect(100) })
	}
	return c, ct.ReturnCode(), ct.SessionPresent()
}

// TestForeignClientIDGetsItsOwnSessionV311: the same with 3.1.1 clients.
func TestForeignClientIDGetsItsOwnSessionV311(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, ownersConfig(t, nil))
	alice, _, _ := connectUser3(t, s, "alice")
	if tok := alice.Subscribe("home/alice/#", 1, nil); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	alice.Disconnect(100)
	publishTo(t, s, "home/alice/door", "queued")

	bob, code, present := connectUser3(t, s, "bob")
	if code != 0 || present {
		t.Fatalf("bob: CONNACK %#x, session present %v; want a fresh session", code, present)
	}
	alice, _, present = connectUser3(t, s, "alice")
	if !present {
		t.Fatal("alice: her session is gone")
	}
	publishTo(t, s, "home/alice/door", "live")
	testkit.Eventually(t, 10*time.Second, "alice's messages", func() bool { return len(alice.payloads()) >= 2 })
	if got := alice.payloads(); !slices.Equal(got, []string{"queued", "live"}) {
		t.Errorf("alice got %q", got)
	}
	if tok := bob.Subscribe("home/bob/#", 1, nil); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	publishTo(t, s, "home/bob/door", "bob's")
	testkit.Eventually(t, 10*time.Second, "bob's own message", func() bool { return len(bob.payloads()) > 0 })
	if got := bob.payloads(); !slices.Equal(got, []string{"bob's"}) {
		t.Errorf("bob got %q, want only his own message", got)
	}
	if !alice.IsConnectionOpen() || !bob.IsConnectionOpen() {
		t.Errorf("connected: alice %v, bob %v; neither should have taken the other over", alice.IsConnectionOpen(), bob.IsConnectionOpen())
	}
}

// TestForeignClientIDRefused: with mqtt.foreignclientid refuse, bob is
// refused alice's client id (v5 0x85, 3.1.1 0x02) and alice keeps her
// session.
func TestForeignClientIDRefused(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, ownersConfig(t, func(c *config.Config) { c.MQTT.ForeignClientID = "refuse" }))
	alice := connectUser5(t, s, "alice")
	subscribe5(t, alice.client, paho.SubscribeOptions{Topic: "home/alice/#", QoS: 1})
	alice.client.Disconnect(&paho.Disconnect{})

	if bob := connectUser5(t, s, "bob"); bob.ack.ReasonCode != 0x85 {
		t.Errorf("bob over MQTT 5: CONNACK %#x, want 0x85", bob.ack.ReasonCode)
	}
	if _, code, _ := connectUser3(t, s, "bob"); code != 0x02 {
		t.Errorf("bob over MQTT 3.1.1: CONNACK %#x, want 0x02", code)
	}
	if alice = connectUser5(t, s, "alice"); alice.ack.ReasonCode != 0 || !alice.ack.SessionPresent {
		t.Errorf("alice: CONNACK %#x, session present %v", alice.ack.ReasonCode, alice.ack.SessionPresent)
	}
}

// restartWithAliceSession stores a session of alice's subscribed to
// filter, and restarts the server on the same data directory.
func restartWithAliceSession(t *testing.T, filter string) *testkit.Server {
	t.Helper()
	mutate := ownersConfig(t, durableConfig(t.TempDir()))
	s := testkit.StartOn(t, testkit.Pebble, mutate)
	alice := connectUser5(t, s, "alice")
	subscribe5(t, alice.client, paho.SubscribeOptions{Topic: filter, QoS: 1})
	alice.client.Disconnect(&paho.Disconnect{})
	s.Stop(t)
	return testkit.StartOn(t, testkit.Pebble, mutate)
}

// TestSessionOwnerSurvivesRestart: a stored session keeps its owner across
// a restart: bob still gets a fresh session, alice hers.
func TestSessionOwnerSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := restartWithAliceSession(t, "home/alice/#")
	if bob := connectUser5(t, s, "bob"); bob.ack.ReasonCode != 0 || bob.ack.SessionPresent {
		t.Errorf("bob after the restart: CONNACK %#x, session present %v", bob.ack.ReasonCode, bob.ack.SessionPresent)
	}
	alice := connectUser5(t, s, "alice")
	if !alice.ack.SessionPresent {
		t.Fatal("alice: her session did not survive the restart")
	}
	publishTo(t, s, "home/alice/door", "after the restart")
	testkit.Eventually(t, 10*time.Second, "alice's message", func() bool { return len(alice.got.list()) > 0 })
}

// TestRestrictedSessionSurvivesRestart: a wildcard reaching beyond the
// owner's grants is checked message by message; after a restart the stored
// session still is, so alice's home/# never brings her bob's messages.
func TestRestrictedSessionSurvivesRestart(t *testing.T) {
	t.Parallel()
	s := restartWithAliceSession(t, "home/#")
	publishTo(t, s, "home/bob/door", "bob's secret")
	publishTo(t, s, "home/alice/door", "hers")
	alice := connectUser5(t, s, "alice")
	if !alice.ack.SessionPresent {
		t.Fatal("alice: her session did not survive the restart")
	}
	testkit.Eventually(t, 10*time.Second, "alice's message", func() bool { return len(alice.got.list()) > 0 })
	publishTo(t, s, "home/bob/door", "bob's live secret")
	publishTo(t, s, "home/alice/door", "hers, live")
	testkit.Eventually(t, 10*time.Second, "alice's live message", func() bool {
		return slices.Contains(alice.got.payloads(), "hers, live")
	})
	if got := alice.got.payloads(); !slices.Equal(got, []string{"hers", "hers, live"}) {
		t.Errorf("alice got %q, want only her own messages", got)
	}
}
