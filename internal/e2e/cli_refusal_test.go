package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/server"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/ports"
)

// TestCLIRefusalsEndAtOnce: what the server would refuse (an invalid
// filter, a wildcard topic) ends pub and sub at once, non-zero, saying
// what is wrong, on every protocol: no 30 s of retries as if the network
// had failed, no "connection lost" (issue 24 item 18).
func TestCLIRefusalsEndAtOnce(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	servers := map[string]string{"http": s.URL, "mqtt": "mqtt://" + s.MQTT().Addr("mqtt").String(), "ws": s.WSURL}
	for scheme, url := range servers {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			// Well under --retry-for: a refusal must not be retried.
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			_, stderr, err := runCLI(t, ctx, "", "sub", "--server", url, "--retry-for", "30s", "a/#/b")
			if ctx.Err() != nil || err == nil || !strings.Contains(stderr, `invalid filter "a/#/b"`) ||
				strings.Contains(stderr, "retrying") {
				t.Errorf("sub to an invalid filter over %s: %v (timed out: %v), stderr %q", scheme, err, ctx.Err() != nil, stderr)
			}
			_, stderr, err = runCLI(t, ctx, "", "pub", "--server", url, "a/+", "x")
			if err == nil || !strings.Contains(stderr, `invalid topic "a/+"`) || strings.Contains(stderr, "connection lost") {
				t.Errorf("pub to a wildcard topic over %s: %v, stderr %q", scheme, err, stderr)
			}
		})
	}
}

// TestCLINeverPrintsPasswords: a password in --server appears in no retry
// warning and no error, whatever the protocol.
func TestCLINeverPrintsPasswords(t *testing.T) {
	t.Parallel()
	addr := ports.Refused(t)
	for _, scheme := range []string{"http", "mqtt", "ws"} {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			url := scheme + "://alice:s3cretpw@" + addr
			_, stderr, err := runCLI(t, ctx, "", "sub", "--server", url, "--retry-for", "300ms", "t")
			if err == nil || !strings.Contains(stderr, "retrying") {
				t.Fatalf("sub to a dead server: %v, stderr %q", err, stderr)
			}
			_, pubErr, _ := runCLI(t, ctx, "", "pub", "--server", url, "t", "x")
			_, badErr, _ := runCLI(t, ctx, "", "pub", "--server", scheme+"://alice:s3cretpw@[::1", "t", "x")
			for _, out := range []string{stderr, pubErr, badErr} {
				if strings.Contains(out, "s3cretpw") {
					t.Errorf("the password is printed: %q", out)
				}
			}
		})
	}
}

// TestCLITrustsCA: --ca FILE makes pub, sub and bench trust a self-signed
// server certificate over https://, wss:// and mqtts://; without it they
// refuse the certificate.
func TestCLITrustsCA(t *testing.T) {
	t.Parallel()
	certFile, keyFile, _ := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.HTTP.Cert, c.HTTP.Key = certFile, keyFile })
	servers := map[string]string{"https": "https://" + s.Addr(), "wss": "wss://" + s.Addr(),
		"mqtts": "mqtts://" + s.MQTT().Addr("mqtts").String()}
	for scheme, url := range servers {
		t.Run(scheme, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			topic := "ca/" + scheme
			if _, stderr, err := runCLI(t, ctx, "", "pub", "--server", url, topic, "x"); err == nil ||
				!strings.Contains(stderr, "certificate") {
				t.Errorf("pub without --ca: %v, stderr %q", err, stderr)
			}
			if _, stderr, err := runCLI(t, ctx, "", "pub", "--server", url, "--ca", certFile, "--retain", topic, "trusted"); err != nil {
				t.Fatalf("pub --ca: %v, stderr %q", err, stderr)
			}
			out, stderr, err := runCLI(t, ctx, "", "sub", "--server", url, "--ca", certFile, "--count", "1", topic)
			if err != nil || strings.TrimSpace(out) != "trusted" {
				t.Errorf("sub --ca: %v %q, stderr %q", err, out, stderr)
			}
		})
	}
	t.Run("bench", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		out, stderr, err := runCLI(t, ctx, "", "bench", "--ca", certFile, "--scenario", "fanout", "--clients", "2",
			"--messages", "20", "--target", "https://"+s.Addr()+"/v1/subscribe?topic={topic}",
			"--publish", "https://"+s.Addr()+"/v1/publish/{topic}")
		if err != nil || !strings.Contains(out, "fanout") {
			t.Errorf("bench --ca over https: %v %q, stderr %q", err, out, stderr)
		}
	})
}

// TestCLIVersionIsTheServers: --version prints the number the server
// reports ($SYS/broker/version, the dashboard), not "(devel)".
func TestCLIVersionIsTheServers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, _, err := runCLI(t, ctx, "", "--version")
	if want := "streamhub version " + server.Version + " ("; err != nil || !strings.HasPrefix(out, want) {
		t.Errorf("--version: %v %q, want %q...", err, out, want)
	}
}
