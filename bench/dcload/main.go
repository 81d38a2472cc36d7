// Command dcload compares fan-out over WebRTC data channels with fan-out
// over WebSocket under the same load: -peers subscribers on one topic
// (pion peer connections with a data channel labelled with the topic, or
// WebSocket connections to /v1/ws/<topic>), -messages published with HTTP
// POST by -publishers at once; it prints deliveries/s and, with -pid, the
// server's CPU per delivery from /proc/PID/stat.
//
//	dcload -http http://127.0.0.1:8080 -kind webrtc -peers 100 -messages 2000 -pid $(pgrep -n streamhub)
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

type options struct {
	base       string
	kind       string
	topic      string
	peers      int
	messages   int
	size       int
	publishers int
	unordered  bool
	pid        int
}

func main() {
	var o options
	flag.StringVar(&o.base, "http", "http://127.0.0.1:8080", "streamhub HTTP URL")
	flag.StringVar(&o.kind, "kind", "webrtc", "subscribers: webrtc (data channels) or ws (WebSocket)")
	flag.StringVar(&o.topic, "topic", "bench/fanout", "topic")
	flag.IntVar(&o.peers, "peers", 100, "subscribers")
	flag.IntVar(&o.messages, "messages", 2000, "messages to publish")
	flag.IntVar(&o.size, "size", 100, "payload bytes")
	flag.IntVar(&o.publishers, "publishers", 8, "HTTP publishers at once")
	flag.BoolVar(&o.unordered, "unordered", false, "data channels unordered with maxRetransmits 0")
	flag.IntVar(&o.pid, "pid", 0, "server process to read CPU time from (0: none)")
	flag.Parse()
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// subscriber counts what one connection receives.
type subscriber struct {
	got   atomic.Int64
	close func()
}

func run(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := make([]*subscriber, o.peers)
	var wg sync.WaitGroup
	errs := make(chan error, o.peers)
	for i := range subs {
		subs[i] = &subscriber{}
		wg.Go(func() {
			var err error
			switch o.kind {
			case "webrtc":
				err = dialDataChannel(ctx, o, subs[i])
			case "ws":
				err = dialWebSocket(ctx, o, subs[i])
			default:
				err = fmt.Errorf("kind %q: webrtc or ws", o.kind)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	defer func() {
		for _, s := range subs {
			if s.close != nil {
				s.close()
			}
		}
	}()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := warmUp(ctx, o, subs); err != nil {
		return err
	}
	return measure(ctx, o, subs)
}

// warmUp publishes until every subscriber has received something, so
// every subscription is in place before the measured load.
func warmUp(ctx context.Context, o options, subs []*subscriber) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if err := publish(ctx, o, []byte("warm-up")); err != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
		if allReceived(subs) {
			for _, s := range subs {
				s.got.Store(0)
			}
			time.Sleep(200 * time.Millisecond) // late warm-up copies
			for _, s := range subs {
				s.got.Store(0)
			}
			return nil
		}
	}
	return fmt.Errorf("warm-up: not every subscriber received within 30 s")
}

func allReceived(subs []*subscriber) bool {
	for _, s := range subs {
		if s.got.Load() == 0 {
			return false
		}
	}
	return true
}

func delivered(subs []*subscriber) int64 {
	var n int64
	for _, s := range subs {
		n += s.got.Load()
	}
	return n
}

// measure publishes the load and waits for every copy (or 60 s, or 2 s
// without progress, for unreliable channels).
func measure(ctx context.Context, o options, subs []*subscriber) error {
	cpu0, err := cpuSeconds(o.pid)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := publishAll(ctx, o); err != nil {
		return err
	}
	want := int64(o.messages * o.peers)
	last, lastChange := int64(-1), time.Now()
	for time.Since(start) < 60*time.Second && time.Since(lastChange) < 2*time.Second {
		n := delivered(subs)
		if n >= want {
			break
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if n := delivered(subs); n < want {
		// stalled: the time to the last delivery, not the wait after it
		elapsed = lastChange.Sub(start)
	}
	cpu1, err := cpuSeconds(o.pid)
	if err != nil {
		return err
	}
	n := delivered(subs)
	fmt.Printf("kind=%s unordered=%v peers=%d messages=%d delivered=%d lost=%d seconds=%.2f deliveries_per_s=%.0f",
		o.kind, o.unordered, o.peers, o.messages, n, want-n, elapsed.Seconds(), float64(n)/elapsed.Seconds())
	if o.pid != 0 && n > 0 {
		fmt.Printf(" server_cpu_s=%.2f server_cpu_us_per_delivery=%.2f", cpu1-cpu0, (cpu1-cpu0)*1e6/float64(n))
	}
	fmt.Println()
	return nil
}

// publishAll posts o.messages payloads from o.publishers connections.
func publishAll(ctx context.Context, o options) error {
	payload := bytes.Repeat([]byte("x"), o.size)
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	for range o.publishers {
		wg.Go(func() {
			for next.Add(1) <= int64(o.messages) {
				if err := publish(ctx, o, payload); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

func publish(ctx context.Context, o options, payload []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base+"/v1/publish/"+o.topic, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("publish: %s", resp.Status)
	}
	return nil
}

// cpuSeconds is pid's user and system CPU time (0 without a pid).
func cpuSeconds(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	// The command name may hold spaces: fields count from after its ")".
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks, nil
}
