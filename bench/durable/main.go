// Command durable measures acknowledged durable publishes and replay, for
// streamhub and for NATS JetStream (file storage), with the same message
// count, size and concurrency. Run by bench/durable.sh, which starts the
// servers. Each run prints markdown rows "| label | publishes/s | replay
// msgs/s |", one per protocol measured.
//
// streamhub: HTTP POST per publish with long-poll replay (-streamhub), or
// MQTT 3.1.1 QoS 1 publishes with -window in flight per connection (-mqtt),
// then replays of everything over the TCP text protocol (-tcp), plain
// WebSocket and NDJSON (over -streamhub) and long polling.
// JetStream: js.Publish waiting for each ack with pull-consumer replay, or
// (-async) js.PublishAsync with -window in flight per connection, then the
// ordered consumer and pull-consumer replays.
package main

import (
	"flag"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"
)

// load is what every variant publishes and replays.
type load struct {
	n, c, window int
	payload      []byte
	replays      string
	replayOnly   bool
	noReplay     bool // publish only (bench/cluster.sh)
	replicas     int  // of the JetStream stream
}

func main() {
	streamhubURL := flag.String("streamhub", "", "streamhub HTTP URL (durable stream on bench/#)")
	mqttAddr := flag.String("mqtt", "", "streamhub MQTT address: publish with MQTT QoS 1 instead of HTTP")
	tcpAddr := flag.String("tcp", "", "streamhub TCP text protocol address, for replay")
	natsURL := flag.String("nats", "", "NATS URL with JetStream")
	async := flag.Bool("async", false, "JetStream: publish asynchronously with -window acks outstanding per connection")
	label := flag.String("label", "", "name for this run's rows")
	n := flag.Int("n", 20000, "messages")
	c := flag.Int("c", 32, "concurrent publishers (HTTP, js.Publish) or connections (MQTT, js.PublishAsync)")
	window := flag.Int("window", 64, "publishes in flight per connection (MQTT, js.PublishAsync)")
	size := flag.Int("size", 100, "payload bytes")
	only := flag.String("replays", "", "streamhub: run only the replays whose row names contain this (for profiling)")
	replayOnly := flag.Bool("replay-only", false, "streamhub MQTT: skip publishing, replay what an earlier run stored")
	withReplay := flag.Bool("replay", true, "replay after publishing (false: publish only)")
	replicas := flag.Int("replicas", 1, "replicas of the JetStream stream (-nats)")
	flag.Parse()
	ld := load{n: *n, c: *c, window: *window, payload: []byte(strings.Repeat("x", *size)), replays: *only, replayOnly: *replayOnly,
		noReplay: !*withReplay, replicas: *replicas}
	var rows []row
	var err error
	switch {
	case *streamhubURL != "" && *mqttAddr != "":
		rows, err = streamhubBulk(*streamhubURL, *mqttAddr, *tcpAddr, ld)
	case *streamhubURL != "":
		rows, err = streamhubHTTP(*streamhubURL, ld)
	case *mqttAddr != "":
		rows, err = mqttOnly(*mqttAddr, ld)
	case *natsURL != "" && *async:
		rows, err = jetStreamAsync(*natsURL, ld)
	case *natsURL != "":
		rows, err = jetStreamSync(*natsURL, ld)
	default:
		log.Fatal("give -streamhub (and -mqtt), -mqtt or -nats")
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rows {
		fmt.Printf("| %s, %s | %s | %s |\n", *label, r.what, rate(r.publish), rate(r.replay))
	}
}

// mqttOnly publishes over MQTT QoS 1 and replays nothing.
func mqttOnly(addr string, ld load) ([]row, error) {
	pub, err := timed(ld.n, func() error { return mqttPublish(addr, ld) })
	if err != nil {
		return nil, fmt.Errorf("mqtt publish: %w", err)
	}
	return []row{{fmt.Sprintf("MQTT QoS 1 publish (%d connections × %d in flight)", ld.c, ld.window), pub, 0}}, nil
}

// row is one protocol's result; zero means not measured.
type row struct {
	what            string
	publish, replay float64
}

func rate(r float64) string {
	if r == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", r)
}

// parallel runs n publishes over c workers and returns messages per second.
func parallel(n, c int, publish func(worker, i int) error) (float64, error) {
	return timed(n, func() error {
		var wg sync.WaitGroup
		errs := make(chan error, c)
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
		return <-errs
	})
}

// timed runs f and returns n per second of its duration.
func timed(n int, f func() error) (float64, error) {
	start := time.Now()
	if err := f(); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// share splits n messages over c connections.
func share(n, c, i int) int {
	k := n / c
	if i < n%c {
		k++
	}
	return k
}
