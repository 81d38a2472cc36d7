// Command durable measures acknowledged durable publishes and replay, for
// streamhub (HTTP publish into a durable stream, long-poll replay; or MQTT
// QoS 1 publishes, each connection waiting for its PUBACK, without replay)
// and for NATS JetStream (file storage, synchronous publish acks,
// pull-consumer replay), with the same message count, size and
// concurrency. Run by bench/durable.sh and bench/cluster.sh, which start
// the servers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	streamhubURL := flag.String("streamhub", "", "streamhub HTTP URL (durable stream on bench/#)")
	mqttAddr := flag.String("mqtt", "", "streamhub MQTT HOST:PORT: QoS 1 publishes to bench/x (durable), no replay")
	natsURL := flag.String("nats", "", "NATS URL with JetStream")
	label := flag.String("label", "", "name for this run's row")
	n := flag.Int("n", 20000, "messages")
	c := flag.Int("c", 32, "concurrent publishers, each waiting for its acknowledgement")
	size := flag.Int("size", 100, "payload bytes")
	replicas := flag.Int("replicas", 1, "replicas of the NATS stream (-nats)")
	withReplay := flag.Bool("replay", true, "replay everything after publishing (streamhub over HTTP, NATS)")
	flag.Parse()
	payload := strings.Repeat("x", *size)
	var pub, replay float64
	var err error
	switch {
	case *streamhubURL != "":
		pub, replay, err = streamhub(*streamhubURL, *n, *c, payload, *withReplay)
	case *mqttAddr != "":
		pub, err = mqttQoS1(*mqttAddr, *n, *c, payload)
	case *natsURL != "":
		pub, replay, err = jetStream(*natsURL, *replicas, *n, *c, payload, *withReplay)
	default:
		log.Fatal("give -streamhub, -mqtt or -nats")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("| %s | %.0f | %.0f |\n", *label, pub, replay)
}

// parallel runs n publishes over c workers and returns messages per second.
func parallel(n, c int, publish func(worker, i int) error) (float64, error) {
	var wg sync.WaitGroup
	errs := make(chan error, c)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += c {
				if err := publish(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func streamhub(base string, n, c int, payload string, withReplay bool) (float64, float64, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	var first string
	var once sync.Once
	rate, err := parallel(n, c, func(_, _ int) error {
		resp, err := client.Post(base+"/v1/publish/bench/x", "text/plain", strings.NewReader(payload))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct{ Cursor string }
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("publish: %d %v", resp.StatusCode, err)
		}
		once.Do(func() { first = r.Cursor })
		return nil
	})
	if err != nil || !withReplay {
		return rate, 0, err
	}
	// Replay everything from the start of the epoch.
	cursor := strings.Split(first, "-")[0] + "-0"
	got := 0
	start := time.Now()
	for got < n {
		q := url.Values{"topic": {"bench/#"}, "cursor": {cursor}, "timeout": {"0"}, "limit": {"1000"}}
		resp, err := client.Get(base + "/v1/poll?" + q.Encode())
		if err != nil {
			return 0, 0, err
		}
		var a struct {
			Cursor   string
			Messages []json.RawMessage
		}
		err = json.NewDecoder(resp.Body).Decode(&a)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		if len(a.Messages) == 0 {
			return 0, 0, fmt.Errorf("replay stopped at %d of %d", got, n)
		}
		got += len(a.Messages)
		cursor = a.Cursor
	}
	return rate, float64(n) / time.Since(start).Seconds(), nil
}

// mqttQoS1 publishes n messages at QoS 1 over c MQTT 3.1.1 connections,
// each waiting for its PUBACK before the next, as HTTP publishers wait for
// their answer; it returns acknowledged publishes per second.
func mqttQoS1(addr string, n, c int, payload string) (float64, error) {
	clients := make([]mqtt.Client, c)
	for w := range clients {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).
			SetClientID(fmt.Sprintf("durable-%d-%d", os.Getpid(), w)).SetAutoReconnect(false)
		clients[w] = mqtt.NewClient(opts)
		if t := clients[w].Connect(); t.Wait() && t.Error() != nil {
			return 0, fmt.Errorf("mqtt connect: %w", t.Error())
		}
		defer clients[w].Disconnect(100)
	}
	return parallel(n, c, func(w, _ int) error {
		t := clients[w].Publish("bench/x", 1, false, payload)
		if !t.WaitTimeout(30 * time.Second) {
			return errors.New("mqtt publish: no PUBACK in 30 s")
		}
		return t.Error()
	})
}

func jetStream(addr string, replicas, n, c int, payload string, withReplay bool) (float64, float64, error) {
	ctx := context.Background()
	nc, err := nats.Connect(addr)
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, err
	}
	js.DeleteStream(ctx, "BENCH")
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage, Replicas: replicas})
	if err != nil {
		return 0, 0, err
	}
	rate, err := parallel(n, c, func(_, _ int) error {
		_, err := js.Publish(ctx, "bench.x", []byte(payload))
		return err
	})
	if err != nil || !withReplay {
		return rate, 0, err
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return 0, 0, err
	}
	got := 0
	start := time.Now()
	for got < n {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, 0, err
		}
		k := 0
		for range batch.Messages() {
			k++
		}
		if k == 0 {
			return 0, 0, fmt.Errorf("replay stopped at %d of %d", got, n)
		}
		got += k
	}
	return rate, float64(n) / time.Since(start).Seconds(), nil
}
