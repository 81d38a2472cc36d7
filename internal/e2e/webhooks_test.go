package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
	"streamhub/internal/webhook"
)

const hookSecret = "e2e-secret"

func withHook(url string, events ...string) func(*config.Config) {
	return func(c *config.Config) {
		hook := config.Webhook{Name: "ops", URL: url, Secret: hookSecret, Events: events,
			Timeout: 500 * time.Millisecond, Backoff: 5 * time.Millisecond, Backoffmax: 50 * time.Millisecond}
		if slices.Contains(events, webhook.Publish) {
			hook.Topics = []string{"iot/#"}
		}
		c.Webhooks = []config.Webhook{hook}
	}
}

// byConn groups events per connection as "event filters" strings, and
// the publish events as "publish TOPIC".
func byConn(evs []webhook.Event) map[string][]string {
	out := map[string][]string{}
	for _, ev := range evs {
		switch {
		case ev.Conn != nil:
			key := ev.Conn.Transport + " " + ev.Conn.ClientID
			out[key] = append(out[key], strings.TrimSpace(ev.Event+" "+strings.Join(ev.Filters, ",")))
		case ev.Message != nil:
			var env struct{ Topic string }
			_ = json.Unmarshal(ev.Message, &env)
			out["publish"] = append(out["publish"], env.Topic)
		}
	}
	return out
}

// TestWebhooksFromClients: Debian's mosquitto_pub and mosquitto_sub and
// an SSE subscriber make connect, subscribe, publish and disconnect
// events, each connection's in order, with no code of their transports'
// own; the admin API and /metrics show the hook's deliveries.
func TestWebhooksFromClients(t *testing.T) {
	t.Parallel()
	sub, pub := mosquittoTool(t, "mosquitto_sub"), mosquittoTool(t, "mosquitto_pub")
	recv := testkit.NewHookReceiver(t, hookSecret)
	recv.Set(testkit.HookOK)
	s := testkit.StartOn(t, testkit.Pebble, withHook(recv.URL, webhook.Connect, webhook.Subscribe, webhook.Disconnect, webhook.Publish))
	port := mqttPort(s)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	if b, err := exec.CommandContext(ctx, pub, "-p", port, "-i", "pub1", "-t", "iot/x", "-m", "1").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, b)
	}
	sc := exec.CommandContext(ctx, sub, "-p", port, "-V", "mqttv5", "-i", "sub1", "-t", "iot/sub/#", "-C", "1", "-W", "30")
	if err := sc.Start(); err != nil {
		t.Fatal(err)
	}
	s.WaitSubscribers(t, "iot/sub/#", 1)

	sseCtx, endSSE := context.WithCancel(ctx)
	resp := testkit.Get(t, sseCtx, s.URL+"/v1/subscribe?topic=sse/%23", "text/event-stream")
	s.WaitSubscribers(t, "sse/#", 1)
	recv.Wait(t, 7) // connect, publish, disconnect; connect, subscribe; connect, subscribe
	endSSE()
	resp.Body.Close()

	post, err := http.Post(s.URL+"/v1/publish/iot/sub/a", "text/plain", strings.NewReader("bye"))
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if err := sc.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	got := byConn(recv.Wait(t, 10))
	want := map[string][]string{
		"mqtt pub1": {"connect", "disconnect"},
		"mqtt sub1": {"connect", "subscribe iot/sub/#", "disconnect"},
		"sse ":      {"connect", "subscribe sse/#", "disconnect"},
		"publish":   {"iot/x", "iot/sub/a"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events per connection\n got %v\nwant %v", got, want)
	}

	// The receiver keeps an event before it answers: the server counts it
	// once the answer is back.
	var admin struct{ Webhooks []webhook.State }
	testkit.Eventually(t, 0, "10 deliveries counted", func() bool {
		getJSON(t, s.URL+"/v1/admin/webhooks", &admin)
		return len(admin.Webhooks) == 1 && admin.Webhooks[0].Delivered == 10
	})
	if hk := admin.Webhooks[0]; hk.Name != "ops" || !hk.Durable || hk.LastOK == nil || hk.Queued != 0 || hk.Failed != 0 {
		t.Fatalf("GET /v1/admin/webhooks: %+v", admin)
	}
	var cfg struct {
		Config struct{ Webhooks []map[string]any }
	}
	getJSON(t, s.URL+"/v1/admin/config", &cfg)
	if len(cfg.Config.Webhooks) != 1 || cfg.Config.Webhooks[0]["secret"] != "(redacted)" {
		t.Fatalf("GET /v1/admin/config shows the webhook as %v", cfg.Config.Webhooks)
	}
	if m := scrape(t, s.URL); !strings.Contains(m, `streamhub_webhook_delivered_total{hook="ops"} 10`) {
		t.Fatalf("/metrics has no delivery count of 10:\n%s", grep(m, "streamhub_webhook_"))
	}
}

// TestWebhooksAcrossRestart: events a refusing receiver did not take are
// kept in the data directory and delivered by the next server.
func TestWebhooksAcrossRestart(t *testing.T) {
	t.Parallel()
	pub := mosquittoTool(t, "mosquitto_pub")
	recv := testkit.NewHookReceiver(t, hookSecret)
	recv.Set(testkit.HookRefusing)
	data := t.TempDir()
	hook := withHook(recv.URL, webhook.Connect, webhook.Disconnect)
	s := testkit.Start(t, func(c *config.Config) { hook(c); c.Data = data })
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, pub, "-p", mqttPort(s), "-i", "before", "-t", "x", "-m", "1").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, b)
	}
	recv.WaitRequests(t, testkit.HookRefusing, 2)
	testkit.Eventually(t, 0, "both events queued", func() bool {
		var admin struct{ Webhooks []webhook.State }
		getJSON(t, s.URL+"/v1/admin/webhooks", &admin)
		return admin.Webhooks[0].Queued == 2
	})
	s.Stop(t)

	recv.Set(testkit.HookOK)
	testkit.Start(t, func(c *config.Config) { hook(c); c.Data = data })
	evs := recv.Wait(t, 2)
	if len(evs) != 2 || evs[0].Event != webhook.Connect || evs[1].Event != webhook.Disconnect || evs[0].Conn.ClientID != "before" {
		t.Fatalf("events after the restart: %+v", evs)
	}
}
