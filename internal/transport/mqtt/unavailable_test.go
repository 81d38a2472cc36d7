package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
)

// unavailableHub refuses every publish as a cluster node cut off from
// NATS does.
type unavailableHub struct{ *hub.Hub }

func (unavailableHub) Publish(context.Context, *message.Message) (message.Cursor, error) {
	return message.Cursor{}, fmt.Errorf("cluster: nats not connected: %w", hub.ErrUnavailable)
}

func (u unavailableHub) PublishAsync(ctx context.Context, m *message.Message, done func(message.Cursor, error)) {
	done(u.Publish(ctx, m))
}

// TestPublishUnavailable: a publish the hub cannot take now is answered
// PUBACK 0x97 (try later) on MQTT 5 QoS 1, and DISCONNECT 0x89 (server
// busy) where no acknowledgement can carry a reason (QoS 0).
func TestPublishUnavailable(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	h := localHub(t, log)
	policy, err := auth.New(auth.Config{Rules: []auth.Rule{{Who: "all", Publish: []string{"#"}, Subscribe: []string{"#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(unavailableHub{h}, Config{SessionExpiryMax: time.Hour, Policy: policy}, log, nopMeter{})
	c := dialPipe(t, srv, 5, func(string, string) {})
	c.send(t, connectPacket(5, "unavailable", "", "", true, 0, "", 0))
	if ack := c.await(t, packets.Connack, 0); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	c.send(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t", PacketID: 7, Payload: []byte("x")})
	if ack := c.await(t, packets.Puback, 7); ack.ReasonCode != packets.ErrQuotaExceeded.Code {
		t.Fatalf("PUBACK %#x, want %#x", ack.ReasonCode, packets.ErrQuotaExceeded.Code)
	}
	c.send(t, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: []byte("x")})
	if d := c.await(t, packets.Disconnect, 0); d.ReasonCode != packets.ErrServerBusy.Code {
		t.Fatalf("DISCONNECT %#x, want %#x", d.ReasonCode, packets.ErrServerBusy.Code)
	}
}

// TestConnectWhileUnavailable: a CONNECT while the cluster is unavailable
// is refused with "server unavailable": CONNACK 0x88 on MQTT 5, 0x03 on
// 3.1.1, rather than accepted into a session that cannot publish.
func TestConnectWhileUnavailable(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	h := localHub(t, log)
	srv := New(h, Config{SessionExpiryMax: time.Hour, Available: func() bool { return false }}, log, nopMeter{})
	for version, want := range map[byte]byte{5: packets.ErrServerUnavailable.Code, 4: packets.Err3ServerUnavailable.Code} {
		c := dialPipe(t, srv, version, func(string, string) {})
		c.send(t, connectPacket(version, "cut-off", "", "", true, 0, "", 0))
		if ack := c.await(t, packets.Connack, 0); ack.ReasonCode != want {
			t.Fatalf("v%d CONNACK %#x, want %#x", version, ack.ReasonCode, want)
		}
	}
}

// localHub is a single-node hub closed when the test ends.
func localHub(t *testing.T, log *slog.Logger) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Defaults(), log, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}
