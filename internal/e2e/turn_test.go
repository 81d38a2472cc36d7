package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/codec/wsproto"
	"streamhub/internal/config"
	"streamhub/internal/testkit"
	"streamhub/internal/turn"
)

// turnServer starts a server with auth required, the built-in TURN server
// on loopback, and users alice and bob who may signal in room r1, and eve
// who may not.
func turnServer(t *testing.T) *testkit.Server {
	t.Helper()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	var lines string
	for _, u := range []string{"alice", "bob", "eve"} {
		lines += u + ":" + string(hash) + "\n"
	}
	if err := os.WriteFile(users, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	return testkit.Start(t, func(c *config.Config) {
		c.Auth.Required, c.Auth.Users = true, users
		room := []string{"room/r1/#"}
		c.Auth.ACL = []config.ACL{{Who: "alice", Publish: room, Subscribe: room}, {Who: "bob", Publish: room, Subscribe: room},
			{Who: "eve", Subscribe: []string{"public/#"}}}
		c.TURN.Addr = "127.0.0.1:0"
		c.TURN.Minport, c.TURN.Maxport = 42000, 42999
	})
}

// turnCredentials asks GET /v1/turn as user, returning the status and,
// on 200, the credentials.
func turnCredentials(t *testing.T, s *testkit.Server, user, room string) (int, turn.Credentials) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/v1/turn?room="+room, nil)
	req.Header.Set("Authorization", basic(user, "pw"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c turn.Credentials
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, c
}

// signal is what peers say on room/<name>/signal (clients/js/peer.js).
type signal struct {
	From string `json:"from"`
	To   string `json:"to,omitempty"`
	Type string `json:"type"`
	SDP  string `json:"sdp,omitempty"`
}

// signaller is one peer's WebSocket (the JSON protocol) on a room's topic.
type signaller struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan signal
	name string
}

func joinRoom(t *testing.T, s *testkit.Server, user, room string) *signaller {
	t.Helper()
	ctx := t.Context()
	conn, _, err := websocket.Dial(ctx, s.WSURL+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {basic(user, "pw")}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(-1)
	sg := &signaller{t: t, conn: conn, in: make(chan signal, 16), name: user}
	b, _ := json.Marshal(wsproto.Request{Op: wsproto.OpSubscribe, ID: "sub", Topics: []string{"room/" + room + "/signal"}})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if _, data, err := conn.Read(ctx); err != nil || !strings.Contains(string(data), `"subscribed"`) {
		t.Fatalf("subscribe as %s: %s %v", user, data, err)
	}
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				close(sg.in)
				return
			}
			var e envelope.Envelope
			if json.Unmarshal(data, &e) != nil || e.Type != envelope.TypeMessage {
				continue // acks of our publishes
			}
			p, _ := e.PayloadBytes()
			var m signal
			if json.Unmarshal(p, &m) == nil && m.From != user && (m.To == "" || m.To == user) {
				sg.in <- m
			}
		}
	}()
	return sg
}

func (sg *signaller) send(room string, m signal) {
	m.From = sg.name
	p, _ := json.Marshal(m)
	req := wsproto.Request{Op: wsproto.OpPublish, Topic: "room/" + room + "/signal"}
	req.Encoding, req.Payload = envelope.EncodePayload(p)
	b, _ := json.Marshal(req)
	if err := sg.conn.Write(sg.t.Context(), websocket.MessageText, b); err != nil {
		sg.t.Fatal(err)
	}
}

func (sg *signaller) receive(ctx context.Context, typ string) signal {
	sg.t.Helper()
	select {
	case m, ok := <-sg.in:
		if !ok || m.Type != typ {
			sg.t.Fatalf("%s: want %s, got %+v (open %v)", sg.name, typ, m, ok)
		}
		return m
	case <-ctx.Done():
		sg.t.Fatalf("%s: no %s", sg.name, typ)
	}
	return signal{}
}

// relayPeer is a pion peer that may only use TURN relays, with c's servers.
func relayPeer(t *testing.T, c turn.Credentials) *webrtc.PeerConnection {
	t.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		ICEServers:         []webrtc.ICEServer{{URLs: c.URIs, Username: c.Username, Credential: c.Password}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// localDescription sets pc's offer or answer and returns it with every
// candidate gathered (the Go peers do not trickle; peer.js does).
func localDescription(t *testing.T, pc *webrtc.PeerConnection, offer bool) string {
	t.Helper()
	var d webrtc.SessionDescription
	var err error
	if offer {
		d, err = pc.CreateOffer(nil)
	} else {
		d, err = pc.CreateAnswer(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(d); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// TestTURNRelayedDataChannel connects two peers that signal through room
// r1 and may only use our TURN relay, and sends 1,000 messages in order
// over a data channel between them.
func TestTURNRelayedDataChannel(t *testing.T) {
	s := turnServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	status, ca := turnCredentials(t, s, "alice", "r1")
	if status != http.StatusOK {
		t.Fatalf("alice: GET /v1/turn: %d", status)
	}
	if !strings.HasSuffix(ca.Username, ":alice") || ca.TTL != 3600 || len(ca.URIs) != 2 {
		t.Fatalf("alice's credentials: %+v", ca)
	}
	_, cb := turnCredentials(t, s, "bob", "r1")
	sa, sb := joinRoom(t, s, "alice", "r1"), joinRoom(t, s, "bob", "r1")
	a, b := relayPeer(t, ca), relayPeer(t, cb)

	const total = 1000
	got := make(chan string, total)
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnMessage(func(m webrtc.DataChannelMessage) { got <- string(m.Data) })
	})
	dc, err := a.CreateDataChannel("chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })

	sa.send("r1", signal{Type: "offer", To: "bob", SDP: localDescription(t, a, true)})
	offer := sb.receive(ctx, "offer")
	if err := b.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	sb.send("r1", signal{Type: "answer", To: "alice", SDP: localDescription(t, b, false)})
	answer := sa.receive(ctx, "answer")
	if err := a.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer.SDP}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-opened:
	case <-ctx.Done():
		t.Fatal("the data channel never opened through the relay")
	}
	pair, err := a.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != webrtc.ICECandidateTypeRelay {
		t.Fatalf("selected pair %v (%v): want a relay candidate", pair, err)
	}
	for i := range total {
		if err := dc.SendText(fmt.Sprintf("m%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range total {
		select {
		case m := <-got:
			if want := fmt.Sprintf("m%04d", i); m != want {
				t.Fatalf("message %d: got %q, want %q", i, m, want)
			}
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages", i, total)
		}
	}
	st := s.TURN().Stats()
	if st.Allocations < 2 || st.BytesToPeers == 0 || st.BytesFromPeers == 0 {
		t.Fatalf("TURN stats %+v: want two allocations and relayed bytes", st)
	}
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `streamhub_turn_relayed_bytes_total{direction="to_peers"}`) {
		t.Fatal("no streamhub_turn_relayed_bytes_total in /metrics")
	}
	a.Close()
	b.Close()
	testkit.Eventually(t, 10*time.Second, "allocations released", func() bool { return s.TURN().Stats().Allocations == 0 })
}

// TestTURNRefusedWithoutRoomRights: eve, who may not signal in r1, gets
// neither TURN credentials nor a publish on its topic; a bad room is 400,
// no credentials 401.
func TestTURNRefusedWithoutRoomRights(t *testing.T) {
	s := turnServer(t)
	if status, _ := turnCredentials(t, s, "eve", "r1"); status != http.StatusForbidden {
		t.Fatalf("eve: GET /v1/turn: %d, want 403", status)
	}
	if status, _ := turnCredentials(t, s, "alice", "r1%2Fx"); status != http.StatusBadRequest {
		t.Fatalf("room r1/x: %d, want 400", status)
	}
	if status, _ := turnCredentials(t, s, "alice", ""); status != http.StatusBadRequest {
		t.Fatalf("no room: %d, want 400", status)
	}
	resp, err := http.Get(s.URL + "/v1/turn?room=r1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/publish/room/r1/signal", strings.NewReader(`{"from":"eve","type":"offer"}`))
	req.Header.Set("Authorization", basic("eve", "pw"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("eve: publish to room/r1/signal: %d, want 403", resp.StatusCode)
	}
	// And over the WebSocket peers signal on: subscribing is refused too.
	conn, _, err := websocket.Dial(t.Context(), s.WSURL+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {basic("eve", "pw")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	b, _ := json.Marshal(wsproto.Request{Op: wsproto.OpSubscribe, ID: "sub", Topics: []string{"room/r1/signal"}})
	if err := conn.Write(t.Context(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if _, data, err := conn.Read(t.Context()); err != nil || !strings.Contains(string(data), envelope.CodeForbidden) {
		t.Fatalf("eve: subscribe to room/r1/signal: %s %v, want forbidden", data, err)
	}
}
