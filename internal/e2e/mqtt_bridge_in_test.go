package e2e

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/testkit"
)

// TestMosquittoBridgeIn: a Mosquitto bridge to streamhub with try_private
// (protocol level 0x84) is accepted as a bridge: messages flow both ways,
// and what the bridge forwards is not sent back to it, so nothing loops
// and every client sees each message once.
func TestMosquittoBridgeIn(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	m := testkit.StartMosquitto(t, testkit.MosquittoOptions{Config: fmt.Sprintf(
		"connection streamhub\naddress %s\ntopic # both 1\ntry_private true\nbridge_protocol_version mqttv311\ncleansession true\nrestart_timeout 1\n",
		s.MQTT().Addr("mqtt"))})
	s.WaitSubscribers(t, "#", 1) // the bridge's subscription

	onMosquitto := connect3(t, "127.0.0.1:"+fmt.Sprint(m.Port), "local-client")
	onStreamhub := connect3(t, s.MQTT().Addr("mqtt").String(), "hub-client")

	onMosquitto.publish(t, "t/m", "from-mosquitto")
	onStreamhub.await(t, "from-mosquitto")
	onStreamhub.publish(t, "t/s", "from-streamhub")
	// The bridge's session on streamhub sends what it would echo back
	// before from-streamhub, and Mosquitto its own echoes before "end".
	onMosquitto.await(t, "from-streamhub")
	onMosquitto.publish(t, "t/end", "end")
	onStreamhub.await(t, "end")

	if got, want := onMosquitto.list(), []string{"from-mosquitto", "from-streamhub", "end"}; !slices.Equal(got, want) {
		t.Errorf("client of Mosquitto got %q, want %q (each once)", got, want)
	}
	if got, want := onStreamhub.list(), []string{"from-mosquitto", "from-streamhub", "end"}; !slices.Equal(got, want) {
		t.Errorf("client of streamhub got %q, want %q (each once)", got, want)
	}
}

// client3 is an MQTT 3.1.1 client subscribed to t/# that records payloads.
type client3 struct {
	c   paho3.Client
	mu  sync.Mutex
	got []string
}

func connect3(t *testing.T, addr, id string) *client3 {
	t.Helper()
	r := &client3{}
	opts := paho3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false).
		SetDefaultPublishHandler(func(_ paho3.Client, m paho3.Message) {
			r.mu.Lock()
			r.got = append(r.got, string(m.Payload()))
			r.mu.Unlock()
		})
	r.c = paho3.NewClient(opts)
	if tok := r.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { r.c.Disconnect(100) })
	if tok := r.c.Subscribe("t/#", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe on %s: %v", addr, tok.Error())
	}
	return r
}

func (r *client3) publish(t *testing.T, topic, payload string) {
	t.Helper()
	if tok := r.c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

func (r *client3) await(t *testing.T, payload string) {
	t.Helper()
	testkit.Eventually(t, 10*time.Second, "message "+payload, func() bool { return slices.Contains(r.list(), payload) })
}

func (r *client3) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}
