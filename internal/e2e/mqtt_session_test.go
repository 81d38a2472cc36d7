package e2e

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestDelayedWillAfterDroppedConnection: an MQTT 5 client with a will
// delayed 1 s and a session expiry of 2 s drops its TCP connection; the will
// is published once, after the delay, and the server keeps serving (it used
// to panic publishing a nil will when the delay fired).
func TestDelayedWillAfterDroppedConnection(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, delayedWillAfterDroppedConnection, testkit.Memory, testkit.Pebble, testkit.JetStream)
}

func delayedWillAfterDroppedConnection(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, func(c *config.Config) { c.MQTT.Sys = 50 * time.Millisecond })
	watcher, got := connect5(t, s, "will-watcher", v5opts{clean: true})
	subscribe5(t, watcher, paho.SubscribeOptions{Topic: "status/dying", QoS: 1},
		paho.SubscribeOptions{Topic: "$SYS/broker/clients/total", QoS: 0})
	wills := func() []string { return payloadsOn(got, "status/dying") }

	nc, err := net.Dial("tcp", s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	dying := paho.NewClient(paho.ClientConfig{ClientID: "dying", Conn: nc})
	expiry, delay := uint32(2), uint32(1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ca, err := dying.Connect(ctx, &paho.Connect{ClientID: "dying", CleanStart: true, KeepAlive: 30,
		Properties:     &paho.ConnectProperties{SessionExpiryInterval: &expiry},
		WillMessage:    &paho.WillMessage{Topic: "status/dying", Payload: []byte("gone"), QoS: 1},
		WillProperties: &paho.WillProperties{WillDelayInterval: &delay}})
	if err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect: %v %+v", err, ca)
	}
	dropped := time.Now()
	nc.Close() // no DISCONNECT: the will is due after its delay

	testkit.Eventually(t, 10*time.Second, "the delayed will", func() bool { return len(wills()) > 0 })
	if waited := time.Since(dropped); waited < 900*time.Millisecond {
		t.Errorf("will published %v after the drop, before its 1 s delay", waited)
	}
	// The session expires a second later ($SYS then counts the watcher's
	// only); the will must not come again.
	testkit.Eventually(t, 10*time.Second, "the session's expiry", func() bool {
		total := payloadsOn(got, "$SYS/broker/clients/total")
		return time.Since(dropped) > 2*time.Second && len(total) > 0 && total[len(total)-1] == "1"
	})
	if w := wills(); !slices.Equal(w, []string{"gone"}) {
		t.Errorf("wills received: %q, want one", w)
	}
	// The server is still alive and serving.
	connect5(t, s, "after-the-will", v5opts{clean: true})
}

// payloadsOn returns the payloads received on one topic.
func payloadsOn(r *received5, topic string) []string {
	var out []string
	for _, p := range r.list() {
		if p.Topic == topic {
			out = append(out, string(p.Payload))
		}
	}
	return out
}
