package server_test

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/server"
	"streamhub/internal/testkit"
)

// streamhubGoroutines counts the goroutines running streamhub's own code,
// other than the caller's.
func streamhubGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n")[1:] { // [0] is this goroutine
		if strings.Contains(g, "streamhub/internal/") && !strings.Contains(g, "testing.tRunner") {
			count++
		}
	}
	return count
}

// TestStartFailureLeavesNothingRunning: a start that fails late (the RTSP
// port is taken, after the hub's committer, MQTT, TCP and RTMP started),
// and a New that fails after the hub and media started, stop everything
// they had started. Not parallel, so that no other test's server is
// counted.
func TestStartFailureLeavesNothingRunning(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	before := streamhubGoroutines()

	cfg := config.Defaults()
	cfg.HTTP.Addr, cfg.MQTT.Addr, cfg.TCP.Addr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.RTMP.Addr, cfg.RTSP.Addr, cfg.WebRTC.UDP = "127.0.0.1:0", taken.Addr().String(), "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Durable.Streams = []config.DurableStream{{Filter: "d/#"}}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err == nil {
		t.Fatal("started on a taken RTSP port")
	}
	testkit.Eventually(t, 10*time.Second, "the failed server's goroutines to end", func() bool {
		return streamhubGoroutines() <= before
	})

	// New failing after the hub and media started: the TCP listener's
	// TLS certificate cannot be read.
	cfg.RTSP.Addr = "127.0.0.1:0"
	cfg.TCP.TLS = true
	cfg.HTTP.Cert, cfg.HTTP.Key = filepath.Join(t.TempDir(), "missing.pem"), filepath.Join(t.TempDir(), "missing.key")
	if _, err := server.New(cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("New read a missing certificate")
	}
	testkit.Eventually(t, 10*time.Second, "the goroutines of the failed New to end", func() bool {
		return streamhubGoroutines() <= before
	})
}
