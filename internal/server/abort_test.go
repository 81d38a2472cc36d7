package server_test

import (
	"context"
	"fmt"
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

// TestStartFailureLeavesNothingRunning: a start that fails because one
// listener's port is taken (each in turn: the first to start, RTSP after
// the hub's committer, MQTT, TCP and RTMP, and HTTP, the last), and a New
// that fails after the hub and media started, stop everything they had
// started: no goroutine left, and the ports of the listeners that started
// are free again. Not parallel, so that no other test's server is
// counted.
func TestStartFailureLeavesNothingRunning(t *testing.T) {
	before := streamhubGoroutines()
	cfg := config.Defaults()
	cfg.WebRTC.UDP = "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.Durable.Streams = []config.DurableStream{{Filter: "d/#"}}
	listeners := []struct {
		name string
		addr *string
	}{{"mqtt", &cfg.MQTT.Addr}, {"tcp", &cfg.TCP.Addr}, {"rtmp", &cfg.RTMP.Addr}, {"rtsp", &cfg.RTSP.Addr}, {"http", &cfg.HTTP.Addr}}
	for _, failing := range []string{"mqtt", "rtsp", "http"} {
		var taken net.Listener
		for _, l := range listeners {
			*l.addr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
			if l.name == failing {
				var err error
				if taken, err = net.Listen("tcp", *l.addr); err != nil {
					t.Fatal(err)
				}
			}
		}
		srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "start "+failing) {
			t.Fatalf("start with the %s port taken: %v", failing, err)
		}
		taken.Close()
		testkit.Eventually(t, 10*time.Second, "the failed server's goroutines to end", func() bool {
			return streamhubGoroutines() <= before
		})
		for _, l := range listeners {
			ln, err := net.Listen("tcp", *l.addr)
			if err != nil {
				t.Fatalf("%s taken: the %s listener still holds its port: %v", failing, l.name, err)
			}
			ln.Close()
		}
	}

	// New failing after the hub and media started: the TCP listener's
	// TLS certificate cannot be read.
	cfg.TCP.TLS = true
	cfg.HTTP.Cert, cfg.HTTP.Key = filepath.Join(t.TempDir(), "missing.pem"), filepath.Join(t.TempDir(), "missing.key")
	if _, err := server.New(cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("New read a missing certificate")
	}
	testkit.Eventually(t, 10*time.Second, "the goroutines of the failed New to end", func() bool {
		return streamhubGoroutines() <= before
	})
}
