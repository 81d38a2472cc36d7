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

	"streamhub/internal/testkit/clock"
)

// fakeClock runs the server's session timers when a test says time has
// passed, and only then: sequences of connects, drops and expiries are
// then deterministic and take no real time.
type fakeClock struct{ clock.Fake }

func (c *fakeClock) afterFunc(d time.Duration, f func()) timerHandle { return c.AfterFunc(d, f) }

func (c *fakeClock) advance(d time.Duration) { c.Advance(d) }

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
