// Command paho runs the unpaced publish-and-subscribe load with the Eclipse
// Paho Go clients, as users run it, rather than with `streamhub bench`'s
// raw-socket client (which batches 64 publishes per write): -clients
// connections, each subscribed to its own topic and publishing -messages
// QoS 0 messages of -size bytes to it as fast as its client library lets
// it. Paho writes each PUBLISH with a write of its own, so the broker reads
// one small packet at a time. It prints one JSON line: deliveries/s over
// the wall time from the first publish to the last delivery, lost
// messages, and with -pid the broker's CPU time from /proc/PID/stat.
//
//	paho -addr 127.0.0.1:1883 -client v5 -pid $(pgrep -n streamhub)
//	paho -addr 127.0.0.1:1883 -client v311 -pid ...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt311 "github.com/eclipse/paho.mqtt.golang"

	"streamhub/internal/bench"
)

type options struct {
	addr     string
	client   string
	clients  int
	messages int
	size     int
	pid      int
	timeout  time.Duration
}

// result is what one run prints.
type result struct {
	Client       string  `json:"client"`
	Expected     int64   `json:"expected"`
	Received     int64   `json:"received"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"delivered_per_second"`
	ServerCPU    int64   `json:"server_cpu_ns"`
	CPUPerDeliv  float64 `json:"server_cpu_per_delivery_ns"`
	PublishedSec float64 `json:"publish_seconds"`
}

func main() {
	var o options
	flag.StringVar(&o.addr, "addr", "127.0.0.1:1883", "broker's MQTT TCP address")
	flag.StringVar(&o.client, "client", "v5", "v5 (paho.golang) or v311 (paho.mqtt.golang)")
	flag.IntVar(&o.clients, "clients", 10, "connections, each publishing to and subscribed to its own topic")
	flag.IntVar(&o.messages, "messages", 10000, "messages per connection")
	flag.IntVar(&o.size, "size", 100, "payload bytes")
	flag.IntVar(&o.pid, "pid", 0, "broker process to read CPU time from (0: none)")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "longest run")
	flag.Parse()
	res, err := run(o)
	if err != nil {
		log.Fatal(err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatal(err)
	}
}

// client is one connection's publish and disconnect, whichever library.
type client struct {
	publish    func(ctx context.Context, topic string, payload []byte) error
	disconnect func()
}

func run(o options) (result, error) {
	res := result{Client: o.client, Expected: int64(o.clients * o.messages)}
	var received atomic.Int64
	complete := make(chan struct{})
	onMessage := func() {
		if received.Add(1) == res.Expected {
			close(complete)
		}
	}
	clients := make([]client, o.clients)
	for i := range clients {
		id := fmt.Sprintf("paho-%d-%d", os.Getpid(), i)
		var err error
		if o.client == "v311" {
			clients[i], err = dial311(o.addr, id, topicOf(i), onMessage)
		} else {
			clients[i], err = dial5(o.addr, id, topicOf(i), onMessage)
		}
		if err != nil {
			return res, err
		}
		defer clients[i].disconnect()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	payload := []byte(strings.Repeat("x", o.size))
	cpu0 := bench.ProcessCPU(o.pid)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, o.clients)
	for i, c := range clients {
		wg.Go(func() {
			for range o.messages {
				if err := c.publish(ctx, topicOf(i), payload); err != nil {
					errs <- fmt.Errorf("client %d: publish: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	res.PublishedSec = time.Since(start).Seconds()
	select {
	case err := <-errs:
		return res, err
	default:
	}
	// What has not arrived 2 s after the last delivery is lost.
	last, lastAt := int64(-1), time.Now()
wait:
	for {
		select {
		case <-complete:
			lastAt = time.Now()
			break wait
		case <-ctx.Done():
			break wait
		case now := <-time.After(50 * time.Millisecond):
			if n := received.Load(); n != last {
				last, lastAt = n, now
			} else if now.Sub(lastAt) > 2*time.Second {
				break wait
			}
		}
	}
	res.ServerCPU = int64(bench.ProcessCPU(o.pid) - cpu0)
	res.Received = received.Load()
	res.Seconds = lastAt.Sub(start).Seconds()
	res.PerSecond = float64(res.Received) / res.Seconds
	if res.Received > 0 {
		res.CPUPerDeliv = float64(res.ServerCPU) / float64(res.Received)
	}
	return res, nil
}

func topicOf(i int) string { return "paho/" + strconv.Itoa(i) }

// dial5 connects a paho.golang (MQTT 5) client subscribed to topic.
func dial5(addr, id, topic string, onMessage func()) (client, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return client{}, err
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: id, Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(paho.PublishReceived) (bool, error) { onMessage(); return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		return client{}, fmt.Errorf("connect %s: %w", id, err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic}}}); err != nil {
		return client{}, fmt.Errorf("subscribe %s: %w", id, err)
	}
	return client{
		publish: func(ctx context.Context, topic string, payload []byte) error {
			_, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload})
			return err
		},
		disconnect: func() { _ = c.Disconnect(&paho.Disconnect{}) },
	}, nil
}

// dial311 connects a paho.mqtt.golang (MQTT 3.1.1) client subscribed to
// topic.
func dial311(addr, id, topic string, onMessage func()) (client, error) {
	opts := mqtt311.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false)
	c := mqtt311.NewClient(opts)
	if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return client{}, fmt.Errorf("connect %s: %v", id, t.Error())
	}
	if t := c.Subscribe(topic, 0, func(mqtt311.Client, mqtt311.Message) { onMessage() }); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return client{}, fmt.Errorf("subscribe %s: %v", id, t.Error())
	}
	return client{
		publish: func(_ context.Context, topic string, payload []byte) error {
			// A QoS 0 token completes once the packet is handed to the
			// connection's writer; waiting on it is what a careful user does.
			t := c.Publish(topic, 0, false, payload)
			t.Wait()
			return t.Error()
		},
		disconnect: func() { c.Disconnect(100) },
	}, nil
}
