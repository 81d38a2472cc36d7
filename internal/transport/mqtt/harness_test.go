package mqtt

import (
	"bufio"
	"bytes"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// fakeClock runs the server's session timers when a test says time has
// passed, and only then: sequences of connects, drops and expiries are
// then deterministic and take no real time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Duration
	timers []*fakeTimer
	// late is how many of the next stops come too late: Stop reports
	// false and the timer fires at the next advance, as a real timer does
	// whose function has started and waits for a lock the stopper holds.
	late int
}

type fakeTimer struct {
	clock *fakeClock
	at    time.Duration
	f     func()
	done  bool // fired or stopped
}

func (c *fakeClock) afterFunc(d time.Duration, f func()) timerHandle {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now + d, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if t.done {
		return false
	}
	if t.clock.late > 0 {
		t.clock.late--
		t.at = t.clock.now
		return false
	}
	t.done = true
	return true
}

// advance moves the clock by d and fires every timer due, all at once on
// goroutines of their own as time.AfterFunc would, and waits for them.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now += d
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.done:
		case t.at <= c.now:
			t.done = true
			due = append(due, t)
		default:
			kept = append(kept, t)
		}
	}
	clear(c.timers[len(kept):])
	c.timers = kept
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range due {
		wg.Go(t.f)
	}
	wg.Wait()
}

// pipeClient is a client on one end of a net.Pipe whose other end the
// server serves: raw packets, no library between the test and the broker.
type pipeClient struct {
	nc      net.Conn
	version byte
	onPub   func(topic, payload string) // called for each PUBLISH received
	done    chan struct{}               // closed when the server's side is closed

	mu  sync.Mutex
	got []packets.Packet // everything but PUBLISH
}

func dialPipe(t testing.TB, s *Server, version byte, onPub func(topic, payload string)) *pipeClient {
	cn, sn := net.Pipe()
	go s.ServeConn(sn)
	c := &pipeClient{nc: cn, version: version, onPub: onPub, done: make(chan struct{})}
	go c.read(t)
	return c
}

// read takes packets in for as long as the connection lives, and
// acknowledges QoS 1 publishes at once.
func (c *pipeClient) read(t testing.TB) {
	defer close(c.done)
	r := bufio.NewReader(c.nc)
	for {
		pk, err := readPacket(r, c.version, 0, nil)
		if err != nil {
			return
		}
		if pk.FixedHeader.Type != packets.Publish {
			c.mu.Lock()
			c.got = append(c.got, pk)
			c.mu.Unlock()
			continue
		}
		c.onPub(pk.TopicName, string(pk.Payload))
		if pk.FixedHeader.Qos == 1 {
			c.send(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		}
	}
}

func (c *pipeClient) send(t testing.TB, pk *packets.Packet) {
	pk.ProtocolVersion = c.version
	var b bytes.Buffer
	if err := encode(&b, pk); err != nil {
		t.Errorf("encode %v: %v", pk.FixedHeader.Type, err)
		return
	}
	_, _ = c.nc.Write(b.Bytes()) // a closed pipe shows as a missing answer
}

// await returns the first packet received of typ (and packet id, if not
// zero), failing the test after a few seconds.
func (c *pipeClient) await(t testing.TB, typ byte, id uint16) packets.Packet {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		i := slices.IndexFunc(c.got, func(pk packets.Packet) bool {
			return pk.FixedHeader.Type == typ && (id == 0 || pk.PacketID == id)
		})
		var pk packets.Packet
		if i >= 0 {
			pk = c.got[i]
			c.got = slices.Delete(c.got, i, i+1)
		}
		c.mu.Unlock()
		if i >= 0 {
			return pk
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no packet of type %d (id %d) within 5 s", typ, id)
	return packets.Packet{}
}

// connectPacket is a CONNECT with user name and password; will, when not
// empty, is published to will/<will>.
func connectPacket(version byte, clientID, user, password string, clean bool, expiry uint32, will string, willDelay uint32) *packets.Packet {
	pk := &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: clientID, Clean: clean,
			UsernameFlag: user != "", Username: []byte(user), PasswordFlag: password != "", Password: []byte(password)}}
	if version == 5 {
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = expiry, true
	}
	if will != "" {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, "will/"+will, []byte(will)
		pk.Connect.WillProperties.WillDelayInterval = willDelay
	}
	return pk
}

// nopMeter counts nothing.
type nopMeter struct{}

func (nopMeter) Connected() func() { return func() {} }
func (nopMeter) Received(int)      {}
func (nopMeter) Sent(int)          {}
