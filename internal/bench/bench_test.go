package bench_test

import (
	"context"
	"crypto/tls"
	"os"
	"strings"
	"testing"
	"time"

	"streamhub/internal/bench"
	"streamhub/internal/config"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/ports"
)

// TestScenarios runs every scenario briefly against a real server and
// checks that nothing published is lost.
func TestScenarios(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	mqtt := "mqtt://" + s.MQTT().Addr("mqtt").String()
	tcp := "tcp://" + s.TCP().TextAddr().String()
	pid := os.Getpid() // the server runs in this process
	for _, cfg := range []bench.Config{
		{Target: mqtt, Scenario: "1to1", Clients: 3, Messages: 3000},
		{Target: mqtt, Version: 5, Scenario: "fanin", Clients: 3, Messages: 3000, QoS: 1},
		{Target: mqtt, Scenario: "fanout", Clients: 5, Messages: 500},
		{Target: mqtt, Version: 5, Scenario: "pubsub", Clients: 3, Messages: 30000, Unpaced: true},
		{Target: mqtt, Scenario: "latency", Rate: 1000, Duration: 500 * time.Millisecond},
		{Target: mqtt, Scenario: "idle", Clients: 50},
		{Target: tcp, Scenario: "1to1", Clients: 3, Messages: 3000},
		{Target: tcp, Scenario: "fanin", Clients: 3, Messages: 3000},
		{Target: mqtt, SubTarget: tcp, Scenario: "fanout", Clients: 5, Messages: 500},
		{Target: tcp, Scenario: "latency", Rate: 1000, Duration: 500 * time.Millisecond},
		{Target: s.WSURL + "/v1/ws/{topic}", Scenario: "1to1", Clients: 3, Messages: 3000},
		{Target: s.WSURL + "/v1/ws/{topic}", Scenario: "latency", Rate: 1000, Duration: 500 * time.Millisecond},
		{Target: s.URL + "/v1/subscribe?topic={topic}", Publish: s.URL + "/v1/publish/{topic}", Scenario: "fanout", Clients: 5, Messages: 100},
		// The SSE latency example of the CLI's help (issue 24: a negative p50).
		{Target: s.URL + "/v1/subscribe?topic={topic}", Publish: s.URL + "/v1/publish/{topic}", Scenario: "latency", Rate: 200, Duration: 500 * time.Millisecond},
	} {
		cfg.PID, cfg.Timeout = pid, 30*time.Second
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", cfg.Scenario, cfg.Target, err)
		}
		if res.Received != res.Expected && cfg.Scenario != "idle" {
			t.Errorf("%s %s: delivered %d of %d", cfg.Scenario, cfg.Target, res.Received, res.Expected)
		}
		if cfg.Scenario == "latency" && (res.P50 <= 0 || res.P99 < res.P50) {
			t.Errorf("latency percentiles %v %v", res.P50, res.P99)
		}
		if cfg.Scenario == "idle" && res.Received != 50 {
			t.Errorf("idle held %d connections", res.Received)
		}
	}
}

// TestSubscribersSpreadOverTargets: a comma-separated --subscribe list
// spreads a fan-out's subscribers over its servers in turn (so one run
// loads several cluster nodes), and the latency scenario opens one
// subscriber on each.
func TestSubscribersSpreadOverTargets(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	mqtt := "mqtt://" + s.MQTT().Addr("mqtt").String()
	tcp := "tcp://" + s.TCP().TextAddr().String()
	both := mqtt + "," + tcp
	for _, cfg := range []bench.Config{
		{Target: mqtt, SubTarget: both, Scenario: "fanout", Clients: 4, Messages: 500},
		{Target: mqtt, SubTarget: both, Scenario: "latency", Rate: 1000, Duration: 500 * time.Millisecond},
	} {
		cfg.Timeout = 30 * time.Second
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", cfg.Scenario, err)
		}
		if res.Received != res.Expected {
			t.Errorf("%s: delivered %d of %d", cfg.Scenario, res.Received, res.Expected)
		}
		if cfg.Scenario == "latency" && res.Expected != 1000 {
			t.Errorf("latency with two subscribers expected %d deliveries, want 2 × 500", res.Expected)
		}
	}
	// The second entry is used: a fan-out whose second server refuses fails.
	closed := "tcp://" + ports.Refused(t)
	_, err := bench.Run(context.Background(), bench.Config{Target: mqtt, SubTarget: mqtt + "," + closed, Scenario: "fanout", Clients: 2, Messages: 10, Timeout: 5 * time.Second}, nil)
	if err == nil {
		t.Error("fan-out with an unreachable second subscribe target succeeded")
	}
}

// TestTargetsOfEveryProtocol: the subscribers `bench/idle.sh` holds on every
// protocol that keeps connections (MQTT over TLS and over WebSocket,
// NDJSON, the WebSocket JSON protocol, NATS's own protocol) deliver, and
// the idle scenario holds them.
func TestTargetsOfEveryProtocol(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	s := testkit.Start(t, func(c *config.Config) { c.MQTT.Cert, c.MQTT.Key, c.MQTT.Tlsaddr = certFile, keyFile, "127.0.0.1:0" })
	ns := testkit.StartNATS(t)
	mqtt := "mqtt://" + s.MQTT().Addr("mqtt").String()
	publish := s.URL + "/v1/publish/{topic}"
	host := strings.TrimPrefix(s.URL, "http://")
	for _, cfg := range []bench.Config{
		{Target: "mqtts://" + s.MQTT().Addr("mqtts").String(), Scenario: "fanout", Clients: 3, Messages: 200},
		{Target: "mqtt+ws://" + host + "/mqtt", Scenario: "fanout", Clients: 3, Messages: 200},
		{Target: mqtt, SubTarget: "mqtt+ws://" + host + "/mqtt", Scenario: "1to1", Clients: 2, Messages: 200, Version: 5},
		{Target: s.URL + "/v1/subscribe?topic={topic}&format=ndjson", Publish: publish, Scenario: "fanout", Clients: 3, Messages: 100},
		{Target: "json+" + s.WSURL + "/v1/ws", Publish: publish, Scenario: "fanout", Clients: 3, Messages: 100},
		{Target: ns.ClientURL(), Scenario: "fanout", Clients: 3, Messages: 200},
		{Target: ns.ClientURL(), Scenario: "1to1", Clients: 2, Messages: 200},
		{Target: "mqtts://" + s.MQTT().Addr("mqtts").String(), Scenario: "idle", Clients: 20},
		{Target: "json+" + s.WSURL + "/v1/ws", Scenario: "idle", Clients: 20},
		{Target: ns.ClientURL(), Scenario: "idle", Clients: 20},
	} {
		cfg.Timeout, cfg.TLS = 30*time.Second, &tls.Config{RootCAs: pool}
		res, err := bench.Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", cfg.Scenario, cfg.Target, err)
		}
		if cfg.Scenario == "idle" {
			if res.Received != int64(cfg.Clients) {
				t.Errorf("idle %s held %d of %d connections", cfg.Target, res.Received, cfg.Clients)
			}
			continue
		}
		if res.Expected == 0 || res.Received != res.Expected {
			t.Errorf("%s %s: delivered %d of %d", cfg.Scenario, cfg.Target, res.Received, res.Expected)
		}
	}
}
