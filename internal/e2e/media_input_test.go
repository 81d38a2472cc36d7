package e2e

import (
	"testing"

	"streamhub/internal/config"
)

// An RTMP message longer than rtmp.maxmessage ends the connection at its
// header, before any connect: the server reserves nothing for it.
func TestMediaRTMPMessageLimit(t *testing.T) {
	t.Parallel()
	srv := mediaServer(t, func(c *config.Config) { c.RTMP.Maxmessage = 64 << 10 })
	c := dial(t, srv.RTMP().Addr())
	rtmpHandshake(t, c)
	// A type 0 chunk on chunk stream 3 announcing a 100 KiB command, and
	// 10 bytes of it.
	c.Write(append([]byte{0x03, 0, 0, 0, 0x01, 0x90, 0x00, 20, 0, 0, 0, 0}, garbage(10)...))
	wantClosed(t, c)
}
