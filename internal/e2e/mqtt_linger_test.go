package e2e

import (
	"bytes"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestDisconnectReachesABusyClient: a client cut off while it is still
// sending (here for publishing over the rate limit) gets the DISCONNECT
// that says why, though it reads only after sending. Closing a socket with
// input unread sends a reset, which on some systems (Windows among them)
// drops what the client had not read yet; Linux keeps it, so this test
// guards the answer here and the lingering close covers the others.
func TestDisconnectReachesABusyClient(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.Limits.Rate = 5 })
	for round := range 3 {
		nc, r := rawMQTT(t, s, 5, "busy")
		var burst []byte
		for range 300 {
			burst = append(burst, rawPublish(t, 5, 0, 0, "busy/t", bytes.Repeat([]byte("x"), 1000))...)
		}
		go nc.Write(burst)
		time.Sleep(300 * time.Millisecond) // the client reads only after sending
		if pk := readUntilDisconnect(t, nc, r, 5); pk.FixedHeader.Type != packets.Disconnect || pk.ReasonCode != 0x96 {
			t.Fatalf("round %d: got packet type %d reason %#x, want DISCONNECT 0x96", round, pk.FixedHeader.Type, pk.ReasonCode)
		}
		nc.Close()
	}
}
