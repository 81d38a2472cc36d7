package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// TestRetainedBounds: past retained.messages or retained.bytes a retained
// message on a new topic is refused (MQTT 5 PUBACK 0x97 quota exceeded,
// HTTP 507 with JSON), while replacing and clearing retained messages still
// work, and a cleared one makes room again.
func TestRetainedBounds(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, retainedBounds) // not JetStream: its node counts a retained message once Run delivers it, after the PUBACK
}

func retainedBounds(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, func(c *config.Config) { c.Retained = config.Retained{Messages: 3, Bytes: 4096} })
	c, _ := connect5(t, s, "retainer", v5opts{clean: true})
	publish := func(topic string, payload []byte) byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		pr, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: payload})
		if pr == nil {
			t.Fatalf("publish %s: no PUBACK: %v", topic, err)
		}
		return pr.ReasonCode
	}
	for _, step := range []struct {
		what, topic string
		payload     []byte
		want        byte
	}{
		{"first", "bound/1", []byte("a"), 0},
		{"second", "bound/2", []byte("b"), 0},
		{"third", "bound/3", []byte("c"), 0},
		{"a fourth topic", "bound/4", []byte("d"), 0x97},
		{"replacing", "bound/1", []byte("a2"), 0},
		{"clearing", "bound/2", nil, 0},
		{"a new topic once cleared", "bound/4", []byte("d"), 0},
		{"past the byte bound", "bound/5", make([]byte, 5000), 0x97},
		{"growing one past the byte bound", "bound/1", make([]byte, 5000), 0x97},
	} {
		if step.what == "past the byte bound" { // make room in count, not in bytes
			publish("bound/3", nil)
		}
		if got := publish(step.topic, step.payload); got != step.want {
			t.Errorf("%s (%s): reason 0x%02x, want 0x%02x", step.what, step.topic, got, step.want)
		}
	}
	// Over HTTP: the count is at its bound again (bound/1, /4, /6).
	publishHTTP(t, s, "bound/6?retain=true", "f")
	resp, err := http.Post(s.URL+"/v1/publish/bound/7?retain=true", "text/plain", strings.NewReader("g"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(body), `"retained_quota"`) {
		t.Errorf("HTTP retained publish past the bound: %d %s, want 507 retained_quota", resp.StatusCode, body)
	}
	publishHTTP(t, s, "bound/6?retain=true", "f2") // replacing
	publishHTTP(t, s, "bound/7", "not retained")   // other publishes are untouched
}

// TestAdminListsPaged: every admin list is answered a page at a time
// (?limit=, ?after=, "next", "total"), the default page is bounded, and
// following "next" yields each item once, in order.
func TestAdminListsPaged(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	const n = 250
	var want []string
	for i := range n {
		name := fmt.Sprintf("paged/%03d", i)
		want = append(want, name)
		if _, err := s.Hub().Publish(t.Context(), &message.Message{Topic: name, Payload: []byte("x"), Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	type pageJSON struct {
		Topics   []struct{ Name string }  `json:"topics"`
		Retained []struct{ Topic string } `json:"retained"`
		Next     string                   `json:"next"`
		Total    int                      `json:"total"`
	}
	for _, list := range []string{"topics", "retained"} {
		var first pageJSON
		adminGet(t, s, list, &first)
		if got := len(first.Topics) + len(first.Retained); got != 100 || first.Total != n || first.Next == "" {
			t.Errorf("%s, default page: %d items, total %d, next %q; want 100 of %d and a next", list, got, first.Total, first.Next, n)
		}
		var names []string
		for after, pages := "", 0; ; pages++ {
			if pages > n {
				t.Fatalf("%s: next never ends", list)
			}
			var p pageJSON
			adminGet(t, s, list+"?limit=70&after="+after, &p)
			for _, x := range p.Topics {
				names = append(names, x.Name)
			}
			for _, x := range p.Retained {
				names = append(names, x.Topic)
			}
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		if !slices.Equal(names, want) {
			t.Errorf("%s followed page by page: %d names, want %d in order", list, len(names), n)
		}
	}
	for _, path := range []string{"topics?limit=0", "clients?limit=5000", "sessions?limit=x"} {
		resp := adminDo(t, s, http.MethodGet, path)
		var e struct{ Error struct{ Code string } }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || e.Error.Code != "bad_limit" {
			t.Errorf("%s: %d %q, want 400 bad_limit", path, resp.StatusCode, e.Error.Code)
		}
	}
	for _, list := range []string{"clients", "sessions", "streams"} {
		var p map[string]any
		adminGet(t, s, list+"?limit=1", &p)
		if _, ok := p["total"]; !ok {
			t.Errorf("%s: no total in %v", list, p)
		}
	}
}
