// Package bench is the load generator behind `streamhub bench`: MQTT 3.1.1
// and 5 publishers and subscribers (over TCP, TLS or WebSocket), SSE,
// NDJSON and WebSocket subscribers fed by HTTP publishes, NATS clients,
// throughput (1→1 pairs, N→1, 1→N, publish and subscribe on one
// connection), latency at a fixed rate, and idle connections; it reads the server's CPU time and memory from /proc when
// given its pid, so results can be put per message and per connection.
package bench

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// Config describes one run.
type Config struct {
	Target  string // mqtt://, mqtts://, mqtt+ws://, tcp://, ws://, json+ws://, nats://, or an SSE (NDJSON) subscribe URL template with {topic}
	Publish string // for SSE: HTTP publish URL template with {topic}
	// SubTarget, when set, is where subscribers connect instead of Target:
	// an SSE URL or a ws:// URL with {topic}, for cross-protocol runs
	// (publish over MQTT, receive over SSE or WebSocket). A comma-separated
	// list spreads subscribers over its entries in turn (the latency
	// scenario opens one on each), e.g. over the nodes of a cluster.
	SubTarget string
	Version   byte   // MQTT protocol level: 4 (3.1.1) or 5
	Scenario  string // 1to1, fanin, fanout, pubsub, latency, idle, storm
	Clients   int    // pairs (1to1), publishers (fanin), subscribers (fanout), connections (pubsub, idle)
	Messages  int    // in total
	Size      int    // payload bytes
	QoS       byte
	Rate      int           // messages per second (latency)
	Duration  time.Duration // latency run time; idle hold time
	PID       int           // server process, for CPU and memory
	Timeout   time.Duration
	// Unpaced lets publishers send as fast as they can; by default they
	// keep at most 500 messages in flight to any subscriber, so brokers
	// are measured at their delivery rate rather than at what they buffer
	// (or drop). Unpaced, a broker's queue limits show as lost messages.
	Unpaced bool
	// HTTPPublishers is how many connections POST to an HTTP publish URL
	// at once (0: 8).
	HTTPPublishers int
	// TLS, if set, configures https:// and wss:// connections (a CA to
	// trust, for a self-signed server).
	TLS *tls.Config
}

// Result is one run's numbers.
type Result struct {
	Scenario      string        `json:"scenario"`
	Target        string        `json:"target"`
	Sent          int64         `json:"sent"`
	Received      int64         `json:"received"`
	Expected      int64         `json:"expected"`
	Lost          int64         `json:"lost"` // expected but not received when deliveries stopped
	Seconds       float64       `json:"seconds"`
	PerSecond     float64       `json:"delivered_per_second"`
	P50           time.Duration `json:"p50_ns,omitempty"`
	P90           time.Duration `json:"p90_ns,omitempty"`
	P99           time.Duration `json:"p99_ns,omitempty"`
	P999          time.Duration `json:"p999_ns,omitempty"`
	ServerCPU     time.Duration `json:"server_cpu_ns,omitempty"`
	CPUPerMessage time.Duration `json:"server_cpu_per_delivery_ns,omitempty"`
	MemPerConn    int64         `json:"server_bytes_per_connection,omitempty"`
	// Idle: the growth of the kernel's memory for TCP sockets while the
	// connections were held, machine-wide (both ends of a loopback
	// connection): socket buffers (/proc/net/sockstat) and socket
	// structures (the TCP slab cache, when /proc/slabinfo is readable).
	KernelBufferBytes int64 `json:"kernel_tcp_buffer_bytes,omitempty"`
	KernelSlabBytes   int64 `json:"kernel_tcp_slab_bytes,omitempty"`
}

// Progress is told how far a run is.
type Progress func(done, total int64)

// Run performs one scenario.
func Run(ctx context.Context, cfg Config, progress Progress) (Result, error) {
	if cfg.Size < 8 {
		cfg.Size = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Version == 0 {
		cfg.Version = 4
	}
	res := Result{Scenario: cfg.Scenario, Target: cfg.Target}
	cpu0 := procCPU(cfg.PID)
	var err error
	switch cfg.Scenario {
	case "1to1", "fanin", "fanout", "pubsub":
		err = throughput(ctx, cfg, &res, progress)
	case "latency":
		err = latency(ctx, cfg, &res, progress)
	case "idle":
		err = idle(ctx, cfg, &res, progress)
	case "storm":
		err = storm(ctx, cfg, &res, progress)
	default:
		return res, fmt.Errorf("bench: unknown scenario %q (1to1, fanin, fanout, pubsub, latency, idle, storm)", cfg.Scenario)
	}
	if cfg.PID > 0 {
		res.ServerCPU = procCPU(cfg.PID) - cpu0
		if res.Received > 0 {
			res.CPUPerMessage = res.ServerCPU / time.Duration(res.Received)
		}
	}
	return res, err
}

// payload stamps the send time into the first 8 bytes.
func payload(size int) []byte {
	p := make([]byte, size)
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
	return p
}

func stamp(p []byte) {
	binary.BigEndian.PutUint64(p, uint64(time.Now().UnixNano()))
}

// decimalStamp is the length of the send time HTTP publishers write in
// decimal (SSE carries text): 19 digits of Unix nanoseconds.
const decimalStamp = 19

// sentAt reads the send time a payload carries, in either encoding: the
// decimal one of HTTP publishers or stamp's binary one, whose first byte
// (0x18 for this century's nanoseconds) is never an ASCII digit.
func sentAt(p []byte) (time.Time, bool) {
	if len(p) >= decimalStamp && p[0] >= '0' && p[0] <= '9' {
		ns, err := strconv.ParseInt(string(p[:decimalStamp]), 10, 64)
		return time.Unix(0, ns), err == nil
	}
	if len(p) < 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(p))), true
}

// subTargets lists where subscribers connect: SubTarget's entries, or Target.
func subTargets(cfg Config) []string {
	if cfg.SubTarget == "" {
		return []string{cfg.Target}
	}
	return strings.Split(cfg.SubTarget, ",")
}

// openSubscriber subscribes subscriber number n to filter, on the n-th of
// subTargets (in turn), and calls onMsg for every payload.
func openSubscriber(cfg Config, n int, id, filter string, onMsg func([]byte)) (func(), error) {
	targets := subTargets(cfg)
	target := targets[n%len(targets)]
	if strings.HasPrefix(target, "ws://") || strings.HasPrefix(target, "wss://") {
		return openWS(strings.ReplaceAll(target, "{topic}", filter), cfg.TLS, onMsg)
	}
	if url, ok := strings.CutPrefix(target, "json+"); ok {
		return openWSJSON(url, filter, cfg.TLS, onMsg)
	}
	if addr, ok := tcpAddr(target); ok {
		return openTCPSub(addr, filter, onMsg)
	}
	if addr, ok := strings.CutPrefix(target, "nats://"); ok {
		return openNATSSub(addr, filter, onMsg)
	}
	if dial, ok := mqttDial(target, cfg.TLS); ok {
		c, err := dialMQTT(dial, cfg.Version, id)
		if err != nil {
			return nil, err
		}
		if err := c.subscribe(filter, cfg.QoS); err != nil {
			c.nc.Close()
			return nil, err
		}
		go c.consume(onMsg)
		return c.close, nil
	}
	return openSSE(strings.ReplaceAll(target, "{topic}", filter), cfg.TLS, onMsg)
}

type publisher interface {
	send(topic string, p []byte, flush bool) error
	flush()
	close()
}

type mqttPublisher struct {
	c   *mqttConn
	qos byte
	// window bounds unacknowledged QoS 1 publishes.
	inflight int
	// subscribed: the connection also receives (pubsub); close leaves it
	// open for the deliveries still to come.
	subscribed bool
}

func (m *mqttPublisher) send(topic string, p []byte, flush bool) error {
	if m.qos > 0 {
		if m.inflight >= 256 {
			m.c.flush()
			<-m.c.acks
			m.inflight--
		}
		m.inflight++
	}
	return m.c.publish(topic, p, m.qos, flush)
}

func (m *mqttPublisher) flush() { m.c.flush() }

func (m *mqttPublisher) close() {
	m.c.flush()
	for ; m.inflight > 0; m.inflight-- {
		select {
		case <-m.c.acks:
		case <-time.After(10 * time.Second):
			m.inflight = 0
		}
	}
	if !m.subscribed {
		m.c.close()
	}
}

func openPublisher(cfg Config, id string) (publisher, error) {
	if dial, ok := mqttDial(cfg.Target, cfg.TLS); ok {
		c, err := dialMQTT(dial, cfg.Version, id)
		if err != nil {
			return nil, err
		}
		go c.consume(func([]byte) {})
		return &mqttPublisher{c: c, qos: cfg.QoS}, nil
	}
	if addr, ok := tcpAddr(cfg.Target); ok {
		return openTCPPub(addr)
	}
	if addr, ok := strings.CutPrefix(cfg.Target, "nats://"); ok && cfg.Publish == "" {
		return openNATSPub(addr)
	}
	if cfg.Publish == "" && (strings.HasPrefix(cfg.Target, "ws://") || strings.HasPrefix(cfg.Target, "wss://")) {
		return &wsPublisher{url: cfg.Target, tls: cfg.TLS, conns: map[string]*websocket.Conn{}}, nil
	}
	return newHTTPPublisher(cfg.Publish, cfg.HTTPPublishers, cfg.TLS), nil
}

// openPubSub opens one MQTT connection that subscribes to filter and
// publishes, as a client that reads its own topic does.
func openPubSub(cfg Config, id, filter string, onMsg func([]byte)) (publisher, func(), error) {
	dial, ok := mqttDial(cfg.Target, cfg.TLS)
	if !ok || cfg.SubTarget != "" {
		return nil, nil, errors.New("bench: the pubsub scenario needs an mqtt:// target (and no --subscribe)")
	}
	c, err := dialMQTT(dial, cfg.Version, id)
	if err != nil {
		return nil, nil, err
	}
	if err := c.subscribe(filter, cfg.QoS); err != nil {
		c.nc.Close()
		return nil, nil, err
	}
	go c.consume(onMsg)
	return &mqttPublisher{c: c, qos: cfg.QoS, subscribed: true}, c.close, nil
}

// settle is how long a run waits for more deliveries once publishers are
// done and deliveries stopped: what has not arrived by then is lost.
const settle = 2 * time.Second

func throughput(ctx context.Context, cfg Config, res *Result, progress Progress) error {
	n := max(1, cfg.Clients)
	type route struct{ pubTopic, subFilter string }
	var pubs, subs []route
	switch cfg.Scenario {
	case "1to1", "pubsub":
		for i := range n {
			t := "bench/" + strconv.Itoa(i)
			pubs = append(pubs, route{pubTopic: t})
			subs = append(subs, route{subFilter: t})
		}
	case "fanin":
		for i := range n {
			pubs = append(pubs, route{pubTopic: "bench/in/" + strconv.Itoa(i)})
		}
		subs = append(subs, route{subFilter: "bench/in/+"})
	case "fanout":
		pubs = append(pubs, route{pubTopic: "bench/out"})
		for range n {
			subs = append(subs, route{subFilter: "bench/out"})
		}
	}
	perPub := cfg.Messages / len(pubs)
	fanout := int64(1)
	if cfg.Scenario == "fanout" {
		fanout = int64(n)
	}
	res.Expected = int64(perPub*len(pubs)) * fanout
	var received atomic.Int64
	complete := make(chan struct{}) // closed by the delivery that completes the run
	perSub := make([]atomic.Int64, len(subs))
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	own := make([]publisher, len(subs)) // pubsub: each client publishes on its subscriber's connection
	for i, s := range subs {
		onMsg := func([]byte) {
			perSub[i].Add(1)
			if received.Add(1) == res.Expected {
				close(complete)
			}
		}
		id := fmt.Sprintf("bench-sub-%d-%d", os.Getpid(), i)
		var closer func()
		var err error
		if cfg.Scenario == "pubsub" {
			own[i], closer, err = openPubSub(cfg, id, s.subFilter, onMsg)
		} else {
			closer, err = openSubscriber(cfg, i, id, s.subFilter, onMsg)
		}
		if err != nil {
			return err
		}
		closers = append(closers, closer)
	}
	time.Sleep(200 * time.Millisecond) // let subscriptions settle on servers that answer early
	// Keep at most window messages in flight to any subscriber, so brokers
	// are measured at their delivery rate, not at how much they buffer (or
	// drop, past their queue limits).
	const window = 500
	var sentTotal atomic.Int64
	behind := func(pubIndex int, sentByMe int64) bool {
		switch {
		case cfg.Unpaced:
			return false
		case cfg.Scenario == "1to1" || cfg.Scenario == "pubsub":
			return sentByMe-perSub[pubIndex].Load() > window
		case cfg.Scenario == "fanin":
			return sentTotal.Load()-perSub[0].Load() > window
		}
		slowest := perSub[0].Load()
		for j := range perSub {
			slowest = min(slowest, perSub[j].Load())
		}
		return sentByMe-slowest > window
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(pubs))
	for i, p := range pubs {
		pub := own[i%len(own)]
		if pub == nil {
			var err error
			if pub, err = openPublisher(cfg, fmt.Sprintf("bench-pub-%d-%d", os.Getpid(), i)); err != nil {
				return err
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pub.close()
			buf := payload(cfg.Size)
			for k := range perPub {
				if k%32 == 0 {
					for behind(i, int64(k)) && ctx.Err() == nil {
						pub.flush()
						time.Sleep(50 * time.Microsecond)
					}
				}
				stamp(buf)
				if err := pub.send(p.pubTopic, buf, k%64 == 63 || k == perPub-1); err != nil {
					errs <- err
					return
				}
				sentTotal.Add(1)
			}
		}()
	}
	deadline := time.After(cfg.Timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A run ends when everything arrived, or when publishers are done and
	// nothing more arrived for settle (lost messages), or at the timeout.
	end, lastCount, lastChange := time.Time{}, int64(-1), start
wait:
	for received.Load() < res.Expected {
		select {
		case err := <-errs:
			return err
		case <-ctx.Done():
			break wait
		case <-deadline:
			break wait
		case <-complete:
			break wait
		case now := <-tick.C:
			got := received.Load()
			if progress != nil {
				progress(got, res.Expected)
			}
			if got != lastCount {
				lastCount, lastChange = got, now
			}
			if isClosed(done) && now.Sub(lastChange) > settle {
				end = lastChange
				break wait
			}
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	elapsed := end.Sub(start)
	<-done
	res.Sent, res.Received = sentTotal.Load(), received.Load()
	res.Lost = max(0, res.Expected-res.Received)
	res.Seconds = elapsed.Seconds()
	res.PerSecond = float64(res.Received) / elapsed.Seconds()
	if progress != nil {
		progress(res.Received, res.Expected)
	}
	return nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func latency(ctx context.Context, cfg Config, res *Result, progress Progress) error {
	var mu sync.Mutex
	var lat []time.Duration
	onMsg := func(p []byte) {
		sent, ok := sentAt(p)
		if !ok {
			return
		}
		d := time.Since(sent)
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
	}
	subscribers := len(subTargets(cfg))
	for n := range subscribers {
		closer, err := openSubscriber(cfg, n, fmt.Sprintf("bench-lat-sub-%d-%d", os.Getpid(), n), "bench/lat", onMsg)
		if err != nil {
			return err
		}
		defer closer()
	}
	pub, err := openPublisher(cfg, fmt.Sprintf("bench-lat-pub-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer pub.close()
	time.Sleep(200 * time.Millisecond)
	rate := max(1, cfg.Rate)
	total := int64(float64(rate) * cfg.Duration.Seconds())
	res.Expected = total * int64(subscribers)
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	buf := make([]byte, cfg.Size)
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		stamp(buf)
		if err := pub.send("bench/lat", buf, true); err != nil {
			return err
		}
		res.Sent++
		if progress != nil && i%int64(rate) == 0 {
			mu.Lock()
			progress(int64(len(lat)), res.Expected)
			mu.Unlock()
		}
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	res.Received = int64(len(lat))
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.Received) / res.Seconds
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	res.P50, res.P90, res.P99, res.P999 = pct(0.50), pct(0.90), pct(0.99), pct(0.999)
	return nil
}

func idle(ctx context.Context, cfg Config, res *Result, progress Progress) error {
	before, kernelBefore := procRSS(cfg.PID), readKernelSockets()
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	n := max(1, cfg.Clients)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		closer, err := openSubscriber(cfg, i, fmt.Sprintf("bench-idle-%d-%d", os.Getpid(), i), fmt.Sprintf("bench/idle/%d", i), func([]byte) {})
		if err != nil {
			return fmt.Errorf("after %d connections: %w", i, err)
		}
		closers = append(closers, closer)
		if progress != nil && i%500 == 0 {
			progress(int64(i), int64(n))
		}
	}
	time.Sleep(max(cfg.Duration, time.Second))
	after, kernelAfter := procRSS(cfg.PID), readKernelSockets()
	res.KernelBufferBytes = kernelAfter.bufferBytes - kernelBefore.bufferBytes
	res.KernelSlabBytes = kernelAfter.slabBytes - kernelBefore.slabBytes
	res.Received = int64(len(closers))
	if cfg.PID > 0 && len(closers) > 0 {
		res.MemPerConn = (after - before) / int64(len(closers))
	}
	return nil
}

// storm connects Clients subscribers at once, 64 at a time, and reports how
// long it took for all of them to be subscribed.
func storm(ctx context.Context, cfg Config, res *Result, progress Progress) error {
	n := max(1, cfg.Clients)
	closers := make([]func(), n)
	defer func() {
		for _, c := range closers {
			if c != nil {
				c()
			}
		}
	}()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var done atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := openSubscriber(cfg, i, fmt.Sprintf("bench-storm-%d-%d", os.Getpid(), i), fmt.Sprintf("bench/storm/%d", i), func([]byte) {})
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			closers[i] = c
			if d := done.Add(1); progress != nil && d%500 == 0 {
				progress(d, int64(n))
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.Received, res.Expected = done.Load(), int64(n)
	res.PerSecond = float64(res.Received) / res.Seconds
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("after %d connections: %w", res.Received, err)
	}
	return nil
}

// ProcessCPU is a process's user+system CPU time (0 for pid 0), for load
// generators of other clients (bench/paho).
func ProcessCPU(pid int) time.Duration { return procCPU(pid) }

// procCPU returns a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the ")" that ends the command name; utime and stime are 14 and 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// procRSS returns a process's resident memory in bytes.
func procRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
