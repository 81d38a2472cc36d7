package mqtt

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/core/engine/local"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// fsyncStore is a store in which every topic is durable and each commit
// takes a few milliseconds, as an fsync does; it counts its commits and
// the messages they held.
type fsyncStore struct {
	mu                       sync.Mutex
	staged, committed, syncs int
}

func (s *fsyncStore) Epoch() string                               { return "fsync" }
func (s *fsyncStore) Reserved() uint64                            { return 0 }
func (s *fsyncStore) Reserve(uint64) error                        { return nil }
func (s *fsyncStore) Durable(string) bool                         { return true }
func (s *fsyncStore) Covered(string) bool                         { return true }
func (s *fsyncStore) Reaches(string) bool                         { return true }
func (s *fsyncStore) Gap([]string, uint64) bool                   { return false }
func (s *fsyncStore) Retained() ([]*message.Message, error)       { return nil, nil }
func (s *fsyncStore) SeqAtTime(time.Time, uint64) (uint64, error) { return 0, nil }
func (s *fsyncStore) LastN([]string, int, uint64) (uint64, int, error) {
	return 0, 0, nil
}
func (s *fsyncStore) Replay(_ []string, _, upTo uint64, _ int) ([]*message.Message, uint64, bool, error) {
	return nil, upTo, true, nil
}

func (s *fsyncStore) Stage(*message.Message) {
	s.mu.Lock()
	s.staged++
	s.mu.Unlock()
}

// Commit takes what is staged when it starts, as the pebble store swaps
// its batch, and holds it after the "fsync".
func (s *fsyncStore) Commit() error {
	s.mu.Lock()
	batch := s.staged
	s.staged = 0
	s.mu.Unlock()
	time.Sleep(3 * time.Millisecond)
	s.mu.Lock()
	s.committed += batch
	s.syncs++
	s.mu.Unlock()
	return nil
}

func (s *fsyncStore) counts() (committed, syncs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed, s.syncs
}

// TestPipelinedPublishesShareCommits: a client with many QoS 1 publishes
// in flight into a durable topic has them stored together, a few fsyncs
// for all, rather than one fsync each; each PUBACK still comes only once
// its message is stored, and in publish order.
func TestPipelinedPublishesShareCommits(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	st := &fsyncStore{}
	h, err := hub.New(hub.Defaults(), log, nil, local.New(st, log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	srv := New(h, Config{SessionExpiryMax: time.Hour}, log, nopMeter{})
	c := dialPipe(t, srv, 4, func(string, string) {})
	c.send(t, connectPacket(4, "pipelined", "", "", true, 0, "", 0))
	c.await(t, packets.Connack, 0)
	const n = 200
	go func() {
		for id := range uint16(n) {
			c.send(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
				TopicName: "durable/x", PacketID: id + 1, Payload: []byte("m")})
		}
	}()
	for id := range uint16(n) {
		ack := c.await(t, packets.Puback, 0)
		if ack.PacketID != id+1 {
			t.Fatalf("PUBACK %d came where %d was due", ack.PacketID, id+1)
		}
		if committed, _ := st.counts(); committed < int(id)+1 {
			t.Fatalf("PUBACK %d came with only %d messages stored", ack.PacketID, committed)
		}
	}
	if _, syncs := st.counts(); syncs > n/4 {
		t.Fatalf("%d publishes took %d commits: pipelined publishes should share them", n, syncs)
	}
}
