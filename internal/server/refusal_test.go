package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/config"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRefusalsLoggedWithRemote: an operator sees who is being refused, at
// info level, without a flood of them filling the log.
func TestRefusalsLoggedWithRemote(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.MQTT.Addr, cfg.MQTT.Tlsaddr = "", ""
	cfg.RTMP.Addr, cfg.RTSP.Addr, cfg.WebRTC.UDP = "", "", "127.0.0.1:0"
	cfg.Data = t.TempDir()
	cfg.CORS.Origins = []string{"https://app.example"}
	var logs syncBuffer
	srv, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for range 50 {
		req, _ := http.NewRequest("POST", "http://"+srv.Addr()+"/v1/publish/a", strings.NewReader("x"))
		req.Header.Set("Origin", "https://evil.example")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	out := logs.String()
	n := strings.Count(out, "reason=origin_not_allowed")
	if n == 0 || !strings.Contains(out, "level=INFO msg=refused") || !strings.Contains(out, "remote=127.0.0.1:") {
		t.Fatalf("no info line naming the refusal and the remote address:\n%s", out)
	}
	if n > 20 {
		t.Fatalf("%d lines for 50 refusals: not rate-limited", n)
	}
}
