package mqtt

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/message"
)

// TestWriterPanicEndsOnlyItsConnection: a panic in a connection's writer
// (here a corrupt pending message, as an encoding bug would) ends that
// connection, leaving its session's locks free, and the server and its
// other clients go on; it used to end the process.
func TestWriterPanicEndsOnlyItsConnection(t *testing.T) {
	srv, addr := tcpServer(t)
	victim := dialTCP(t, addr, "victim", "p/a")
	other := dialTCP(t, addr, "other", "p/b")
	var ss *session
	srv.mu.Lock()
	for _, s := range srv.sessions {
		if s.id == "victim" {
			ss = s
		}
	}
	srv.mu.Unlock()
	if ss == nil {
		t.Fatal("no session for victim")
	}
	ss.mu.Lock()
	ss.pending = append(ss.pending, pending{}) // no message: put dereferences nil
	ss.mu.Unlock()
	ss.active.Load().poke()

	victim.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if pk, err := readPacket(victim.r, 4, 0, nil); err == nil {
		t.Fatalf("the panicking connection got %+v, want it closed", pk.FixedHeader)
	}
	if !ss.mu.TryLock() {
		t.Fatal("the session's lock is still held after the writer's panic")
	}
	ss.mu.Unlock()
	if _, err := srv.hub.Publish(t.Context(), &message.Message{Topic: "p/b", Payload: []byte("still here")}); err != nil {
		t.Fatal(err)
	}
	if pk := other.read(); pk.FixedHeader.Type != packets.Publish || string(pk.Payload) != "still here" {
		t.Fatalf("the other client got %+v %q", pk.FixedHeader, pk.Payload)
	}
}
