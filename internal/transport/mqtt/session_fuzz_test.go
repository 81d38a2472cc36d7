package mqtt

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// The session state machine is driven by byte-encoded sequences of
// operations, three bytes each (operation, two arguments: see run), against a real
// *Server over net.Pipe with a fake clock, and checked after every step
// against a model of what MQTT 3.1.1 and 5 say should happen:
//   - the process never panics (the race detector watches too);
//   - each will is published at most once, and exactly when the spec says:
//     on a connection's end without DISCONNECT (or with v5's 0x04), after its
//     delay unless the session was resumed within it, at session end at the
//     latest, never after a normal DISCONNECT;
//   - the sessions registered are the model's, with the model's
//     subscriptions, connected or not as the model says; an expired or
//     cleaned session is gone;
//   - a session receives what was published to its subscriptions, queued
//     while it was away, and nothing of another identity's session;
//   - once every client is gone and every session expired, no goroutine is
//     left.

// Session parameters, chosen so that the short ones expire within one
// long step of the clock and the long ones never do before the end.
const (
	seqShortExpiry = 3 * time.Second
	seqLongExpiry  = 1000 * time.Second
	seqMaxExpiry   = 2000 * time.Second // 3.1.1 persistent sessions get this
	seqShortDelay  = 2 * time.Second
	seqLongDelay   = 1500 * time.Second
	seqMaxOps      = 40
)

// seqOwner names the two identities sequences connect as.
func seqOwner(i int) string { return [...]string{"alice", "bob"}[i] }

// seqKey is one of the four (owner, client id) pairs sequences use.
type seqKey struct{ owner, client int }

func (k seqKey) clientID() string { return "c" + strconv.Itoa(k.client) }
func (k seqKey) name() string     { return sessionKey(seqOwner(k.owner), k.clientID()) }
func (k seqKey) topic(n int) string {
	return "t/" + seqOwner(k.owner) + "/" + k.clientID() + "/" + strconv.Itoa(n)
}

// modelSession is what the model knows of a session.
type modelSession struct {
	subs     map[int]bool
	expiry   time.Duration
	conn     *modelConn // nil while detached
	expireAt time.Duration
	will     string // a delayed will waiting, published at willAt
	willAt   time.Duration
	expected map[string]bool // payloads published to its subscriptions
}

type modelConn struct {
	client    *pipeClient
	version   byte
	will      string
	willDelay time.Duration
}

// sequence is one run: the server, its clock and the model.
type sequence struct {
	t      testing.TB
	clock  *fakeClock
	hub    *hub.Hub
	srv    *Server
	wills  *hub.Subscription
	tokens [2]string

	now       time.Duration
	sessions  map[seqKey]*modelSession
	wantWills map[string]int
	gotWills  map[string]int
	counter   int
	nextID    uint16

	mu     sync.Mutex
	seen   map[seqKey]map[string]bool // payloads each key's clients received
	leaked []string                   // messages a client received from another key's topics
}

func newSequence(t testing.TB, tokens [2]string) *sequence {
	h, err := hub.New(hub.Defaults(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := auth.New(auth.Config{Required: true, JWT: auth.JWTConfig{Secret: seqSecret},
		Rules: []auth.Rule{{Who: "all", Publish: []string{"#"}, Subscribe: []string{"#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	q := &sequence{t: t, clock: &fakeClock{}, hub: h, tokens: tokens, sessions: map[seqKey]*modelSession{},
		wantWills: map[string]int{}, gotWills: map[string]int{}, seen: map[seqKey]map[string]bool{}}
	q.srv = New(h, Config{SessionExpiryMax: seqMaxExpiry, Policy: policy}, slog.New(slog.NewTextHandler(io.Discard, nil)), nopMeter{})
	q.srv.afterFunc = q.clock.afterFunc
	q.wills = h.NewSubscription("test", hub.QueueLimits{Messages: 1 << 20, Bytes: 1 << 30})
	if _, err := q.wills.Subscribe([]string{"will/#"}, hub.StartFrom{}); err != nil {
		t.Fatal(err)
	}
	return q
}

const seqSecret = "a-secret-for-the-session-sequences"

func seqTokens(t testing.TB) (tokens [2]string) {
	for i := range tokens {
		name := seqOwner(i)
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": name, "exp": time.Now().Add(time.Hour).Unix()}).
			SignedString([]byte(seqSecret))
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	return tokens
}

// run applies the operations encoded in ops, checking after each. An
// operation is three bytes: its code (modulo 8), a and b. Bits 0-1 of a
// choose the key (client id c0/c1, owner alice/bob). Codes: 0 connect (see
// connect), 1 drop the connection, 2 DISCONNECT, 3 DISCONNECT 0x04 (with
// will), 4 subscribe to the key's topic b%3, 5 publish to it, 6 advance the
// clock by 1 s, 2.5 s or past every expiry (b%3), 7 make the next b%3 timer
// stops come too late.
func (q *sequence) run(ops []byte) {
	for i := 0; i+2 < len(ops) && i/3 < seqMaxOps; i += 3 {
		op, a, b := ops[i], ops[i+1], ops[i+2]
		k := seqKey{owner: int(a>>1) & 1, client: int(a) & 1}
		switch op % 8 {
		case 0:
			q.connect(k, a, b)
		case 1:
			q.drop(k)
		case 2:
			q.disconnect(k, 0x00)
		case 3:
			q.disconnect(k, packets.CodeDisconnectWillMessage.Code)
		case 4:
			q.subscribe(k, int(b)%3)
		case 5:
			q.publish(k, int(b)%3)
		case 6:
			q.advance([...]time.Duration{time.Second, seqShortDelay + 500*time.Millisecond, seqMaxExpiry}[int(b)%3])
		case 7:
			q.clock.StopLate(int(b) % 3)
		}
		q.check(fmt.Sprintf("after operation %d (%d %d %d)", i/3, op%8, a, b))
		if q.t.Failed() {
			return
		}
	}
}

// connect: a bits 0-1 the key, bit 2 clean start, bit 3 MQTT 5; b bits 0-1
// the expiry (0, short, long), bits 2-3 the will (none, no delay, short
// delay, long delay).
func (q *sequence) connect(k seqKey, a, b byte) {
	version, clean := byte(4), a&4 != 0
	if a&8 != 0 {
		version = 5
	}
	expiry := [...]time.Duration{0, seqShortExpiry, seqLongExpiry, seqLongExpiry}[b&3]
	delay := [...]time.Duration{0, 0, seqShortDelay, seqLongDelay}[(b>>2)&3]
	if version == 4 {
		expiry, delay = 0, 0
		if !clean {
			expiry = seqMaxExpiry
		}
	}
	will := ""
	if (b>>2)&3 != 0 {
		q.counter++
		will = "w" + strconv.Itoa(q.counter)
	}
	// The model: an older connection is taken over (its will goes as for a
	// dropped connection), a clean start ends the old session.
	ms := q.sessions[k]
	if ms != nil && ms.conn != nil {
		q.detachModel(k, ms, true)
		ms = q.sessions[k]
	}
	if ms != nil && clean {
		q.endModel(k, ms)
		ms = nil
	}
	present := ms != nil
	if ms == nil {
		ms = &modelSession{subs: map[int]bool{}, expected: map[string]bool{}}
		q.sessions[k] = ms
	}
	ms.will, ms.expireAt = "", 0 // a resumed session's delayed will and expiry are cancelled
	ms.expiry = expiry
	c := dialPipe(q.t, q.srv, version, func(topic, payload string) { q.received(k, topic, payload) })
	ms.conn = &modelConn{client: c, version: version, will: will, willDelay: delay}

	c.send(q.t, connectPacket(version, k.clientID(), seqOwner(k.owner), q.tokens[k.owner], clean,
		uint32(expiry/time.Second), will, uint32(delay/time.Second)))
	ack := c.await(q.t, packets.Connack, 0)
	if ack.ReasonCode != 0 || ack.SessionPresent != present {
		q.t.Errorf("connect %s: CONNACK %#x, session present %v; want 0, %v", k.name(), ack.ReasonCode, ack.SessionPresent, present)
	}
}

// detachModel is a connection's end: sendWill for one without DISCONNECT.
func (q *sequence) detachModel(k seqKey, ms *modelSession, sendWill bool) {
	mc := ms.conn
	ms.conn = nil
	if sendWill && mc.will != "" {
		if mc.willDelay > 0 && ms.expiry > 0 {
			ms.will, ms.willAt = mc.will, q.now+min(mc.willDelay, ms.expiry)
		} else {
			q.wantWills[mc.will]++
		}
	}
	if ms.expiry == 0 {
		q.endModel(k, ms)
		return
	}
	ms.expireAt = q.now + ms.expiry
}

// endModel ends a session: a delayed will still waiting goes now.
func (q *sequence) endModel(k seqKey, ms *modelSession) {
	if ms.will != "" {
		q.wantWills[ms.will]++
	}
	delete(q.sessions, k)
}

// serverConn is the server's side of k's connection.
func (q *sequence) serverConn(k seqKey) *conn {
	q.srv.mu.Lock()
	ss := q.srv.sessions[k.name()]
	q.srv.mu.Unlock()
	if ss == nil {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.conn
}

// drop closes k's connection without DISCONNECT.
func (q *sequence) drop(k seqKey) {
	ms := q.sessions[k]
	if ms == nil || ms.conn == nil {
		return
	}
	sc := q.serverConn(k)
	ms.conn.client.nc.Close()
	q.detachModel(k, ms, true)
	if sc != nil {
		<-sc.gone.Done()
	}
}

// disconnect sends DISCONNECT with reason (0x04, with will, in v5 only).
func (q *sequence) disconnect(k seqKey, reason byte) {
	ms := q.sessions[k]
	if ms == nil || ms.conn == nil {
		return
	}
	mc := ms.conn
	if mc.version < 5 {
		reason = 0
	}
	sc := q.serverConn(k)
	mc.client.send(q.t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: reason})
	if sc != nil {
		<-sc.gone.Done()
	}
	mc.client.nc.Close()
	q.detachModel(k, ms, reason == packets.CodeDisconnectWillMessage.Code)
}

func (q *sequence) subscribe(k seqKey, n int) {
	ms := q.sessions[k]
	if ms == nil || ms.conn == nil {
		return
	}
	q.nextID++
	if q.nextID == 0 {
		q.nextID = 1
	}
	c := ms.conn.client
	c.send(q.t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: q.nextID,
		Filters: packets.Subscriptions{{Filter: k.topic(n), Qos: 1}}})
	c.await(q.t, packets.Suback, q.nextID)
	ms.subs[n] = true
}

// publish sends a QoS 1 message to k's topic n, as another client would.
func (q *sequence) publish(k seqKey, n int) {
	q.counter++
	payload := "m" + strconv.Itoa(q.counter)
	if ms := q.sessions[k]; ms != nil && ms.subs[n] {
		ms.expected[payload] = true
	}
	if _, err := q.hub.Publish(q.t.Context(), &message.Message{Topic: k.topic(n), Payload: []byte(payload), QoS: 1}); err != nil {
		q.t.Fatal(err)
	}
}

// advance moves the clock, model first: delayed wills and expiries due.
func (q *sequence) advance(d time.Duration) {
	q.now += d
	for k, ms := range q.sessions {
		if ms.will != "" && ms.willAt <= q.now {
			q.wantWills[ms.will]++
			ms.will = ""
		}
		if ms.conn == nil && ms.expireAt <= q.now {
			q.endModel(k, ms)
		}
	}
	q.clock.advance(d)
}

func (q *sequence) received(k seqKey, topic, payload string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !strings.HasPrefix(topic, "t/"+seqOwner(k.owner)+"/"+k.clientID()+"/") {
		q.leaked = append(q.leaked, fmt.Sprintf("%s got %s on %s", k.name(), payload, topic))
	}
	if q.seen[k] == nil {
		q.seen[k] = map[string]bool{}
	}
	q.seen[k][payload] = true
}

// check compares the server with the model.
func (q *sequence) check(when string) {
	t := q.t
	for _, d := range q.wills.Drain(nil) {
		q.gotWills[string(d.Msg.Payload)]++
	}
	if !maps.Equal(q.gotWills, q.wantWills) {
		t.Errorf("%s: wills published %v, want %v", when, q.gotWills, q.wantWills)
	}
	q.srv.mu.Lock()
	var names []string
	owned := 0 // the sessions clientIDs counts
	for name, ss := range q.srv.sessions {
		names = append(names, name)
		if ss.owner != "" {
			owned++
		}
		ss.mu.Lock()
		k := seqKey{client: int(ss.clientID()[len(ss.clientID())-1] - '0')}
		if ss.owner != seqOwner(0) {
			k.owner = 1
		}
		if ms := q.sessions[k]; ms != nil {
			var subs []string
			for _, r := range ss.routes {
				subs = append(subs, r.filter)
			}
			slices.Sort(subs)
			var want []string
			for n := range ms.subs {
				want = append(want, k.topic(n))
			}
			if slices.Sort(want); !slices.Equal(subs, want) {
				t.Errorf("%s: session %s has filters %q, want %q", when, name, subs, want)
			}
			if (ss.conn != nil) != (ms.conn != nil) {
				t.Errorf("%s: session %s connected %v, want %v", when, name, ss.conn != nil, ms.conn != nil)
			}
		}
		ss.mu.Unlock()
	}
	counted := 0
	for _, n := range q.srv.clientIDs {
		counted += n
	}
	q.srv.mu.Unlock()
	var want []string
	for k := range q.sessions {
		want = append(want, k.name())
	}
	slices.Sort(names)
	if slices.Sort(want); !slices.Equal(names, want) {
		t.Errorf("%s: sessions %q, want %q", when, names, want)
	}
	if counted != owned {
		t.Errorf("%s: %d sessions counted by client id, %d registered with an owner", when, counted, owned)
	}
	q.checkDeliveries(when)
}

// checkDeliveries waits until each connected session has received what
// was published to its subscriptions, and checks that nobody received
// another key's messages.
func (q *sequence) checkDeliveries(when string) {
	deadline := time.Now().Add(5 * time.Second)
	for k, ms := range q.sessions {
		if ms.conn == nil {
			continue
		}
		for {
			q.mu.Lock()
			missing := []string{}
			for p := range ms.expected {
				if !q.seen[k][p] {
					missing = append(missing, p)
				}
			}
			q.mu.Unlock()
			if len(missing) == 0 {
				break
			}
			if time.Now().After(deadline) {
				q.t.Errorf("%s: session %s never received %q", when, k.name(), missing)
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	q.mu.Lock()
	if len(q.leaked) > 0 {
		q.t.Errorf("%s: messages reached another identity's session: %q", when, q.leaked)
	}
	q.mu.Unlock()
}

// finish ends every connection, lets every session expire, and closes the
// server and the hub.
func (q *sequence) finish() {
	for k, ms := range q.sessions {
		if ms.conn != nil {
			q.drop(k)
		}
	}
	q.advance(2 * seqMaxExpiry)
	q.check("at the end")
	q.srv.Close()
	q.wills.Close()
	q.hub.Close()
}

// runSequence runs ops on a fresh server and checks that nothing is left
// running afterwards.
func runSequence(t *testing.T, tokens [2]string, ops []byte) {
	before := runtime.NumGoroutine()
	q := newSequence(t, tokens)
	q.run(ops)
	q.finish()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left running (%d before):\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzSessionSequences drives the session state machine with sequences
// the fuzzer makes (go test -fuzz FuzzSessionSequences ./internal/transport/mqtt);
// as a test it runs the seeds in testdata/fuzz/FuzzSessionSequences.
func FuzzSessionSequences(f *testing.F) {
	tokens := seqTokens(f)
	f.Fuzz(func(t *testing.T, ops []byte) {
		runSequence(t, tokens, ops)
	})
}

// TestRandomSessionSequences runs a few hundred random sequences; a
// failure names the seed that reproduces it.
func TestRandomSessionSequences(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	tokens := seqTokens(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range n {
		ops := make([]byte, 3*(1+rng.IntN(24)))
		for j := range ops {
			ops[j] = byte(rng.Uint32())
		}
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			runSequence(t, tokens, ops)
			if t.Failed() {
				t.Logf("seed %d, sequence %d: ops %q", seed, i, ops)
			}
		})
		if t.Failed() {
			return
		}
	}
}
