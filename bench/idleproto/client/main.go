// Command client holds N idle MQTT 3.1.1 connections against a server
// (CONNECT, SUBSCRIBE to idle/all and idle/<i>, then nothing), reports the
// server's RSS growth per connection and the kernel's TCP socket memory,
// then publishes once to idle/all and checks that every connection received
// it. One line of JSON on stdout. Bounded: every wait has a timeout.
//
//	client -addr 127.0.0.1:1883 -n 15000 -pid PID
//
// With -tls it reports what the connections negotiated (version, cipher
// suite, key exchange); -tlsmax and -curve choose them. With -debug (the
// park prototype's debug address) it also saves a heap profile of the
// held connections after the publish (-heap), then asks the server to
// return freed memory to the system and reports the RSS after that.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "server address")
	n := flag.Int("n", 15000, "idle connections")
	pid := flag.Int("pid", 0, "server pid (for /proc/PID/status)")
	hold := flag.Duration("hold", 2*time.Second, "idle time before measuring")
	flag.BoolVar(&useTLS, "tls", false, "connect over TLS (certificate not verified)")
	tlsMax := flag.String("tlsmax", "1.3", "with -tls: the highest TLS version offered, 1.2 or 1.3")
	curve := flag.String("curve", "", "with -tls: the one key exchange offered (x25519, p256); empty: Go's default list (X25519MLKEM768 first)")
	debugURL := flag.String("debug", "", "the server's debug address (park -debug), e.g. http://127.0.0.1:6060")
	heapOut := flag.String("heap", "", "with -debug: save the server's heap profile (gc=1) after the publish here")
	flag.Parse()
	if err := setTLS(*tlsMax, *curve); err != nil {
		log.Fatal(err)
	}

	rss0, thr0 := status(*pid)
	var heap0 map[string]int64
	if *debugURL != "" {
		debugGet(*debugURL, "/debug/memstats", &heap0)
	}
	sock0 := sockMem()
	var got atomic.Int64
	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var failed atomic.Int64
	start := time.Now()
	for i := range *n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(*addr, fmt.Sprintf("idle-%d-%d", os.Getpid(), i), "idle/all", "idle/"+strconv.Itoa(i))
			if err != nil {
				if failed.Add(1) == 1 {
					log.Printf("conn %d: %v", i, err)
				}
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	connectSecs := time.Since(start).Seconds()
	if f := failed.Load(); f > 0 {
		log.Fatalf("%d connections failed", f)
	}
	for _, c := range conns {
		go func() { // wait for the one PUBLISH
			buf := make([]byte, 64)
			_ = c.SetReadDeadline(time.Now().Add(*hold + 90*time.Second))
			for {
				k, err := c.Read(buf)
				if err != nil {
					return
				}
				if k > 0 && buf[0]>>4 == 3 {
					got.Add(1)
					return
				}
			}
		}()
	}
	time.Sleep(*hold)
	rss1, thr1 := status(*pid)
	sock1 := sockMem()

	pub, err := dial(*addr, fmt.Sprintf("idle-pub-%d", os.Getpid()), "")
	if err != nil {
		log.Fatal(err)
	}
	payload := []byte("hello idle world")
	topic := "idle/all"
	rem := 2 + len(topic) + len(payload)
	pkt := append([]byte{0x30, byte(rem), 0, byte(len(topic))}, topic...)
	pkt = append(pkt, payload...)
	t0 := time.Now()
	if _, err := pub.Write(pkt); err != nil {
		log.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for got.Load() < int64(*n) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	fanout := time.Since(t0).Seconds()
	rss2, _ := status(*pid)
	var extra map[string]any
	if *debugURL != "" {
		extra = measureFree(*debugURL, *heapOut, *pid, rss0, heap0, *n)
	}
	out := map[string]any{
		"addr": *addr, "conns": *n, "connect_s": round(connectSecs),
		"rss_before_kib": rss0, "rss_idle_kib": rss1, "rss_after_publish_kib": rss2,
		"rss_per_conn_b": (rss1 - rss0) * 1024 / int64(*n),
		"threads_before": thr0, "threads_idle": thr1,
		"tcp_mem_pages_delta": sock1 - sock0,
		"received":            got.Load(), "fanout_s": round(fanout),
		"rss_per_conn_after_publish_b": (rss2 - rss0) * 1024 / int64(*n),
	}
	if tc, ok := conns[0].(*tls.Conn); ok {
		st := tc.ConnectionState()
		out["tls_version"] = tls.VersionName(st.Version)
		out["tls_cipher"] = tls.CipherSuiteName(st.CipherSuite)
		out["tls_curve"] = st.CurveID.String()
	}
	for k, v := range extra {
		out[k] = v
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	pub.Close()
	for _, c := range conns {
		c.Close()
	}
	if got.Load() != int64(*n) {
		os.Exit(1)
	}
}

func round(f float64) float64 { return float64(int(f*1000)) / 1000 }

var (
	useTLS    bool
	tlsConfig = &tls.Config{InsecureSkipVerify: true}
)

// setTLS narrows the client's TLS configuration to the version and key
// exchange named.
func setTLS(maxVersion, curve string) error {
	switch maxVersion {
	case "1.3":
	case "1.2":
		tlsConfig.MaxVersion = tls.VersionTLS12
	default:
		return fmt.Errorf("-tlsmax %q: want 1.2 or 1.3", maxVersion)
	}
	switch curve {
	case "":
	case "x25519":
		tlsConfig.CurvePreferences = []tls.CurveID{tls.X25519}
	case "p256":
		tlsConfig.CurvePreferences = []tls.CurveID{tls.CurveP256}
	default:
		return fmt.Errorf("-curve %q: want x25519 or p256", curve)
	}
	return nil
}

// debugGet fetches path from the server's debug address into a writer or,
// as JSON, into a value.
func debugGet(base, path string, into any) {
	resp, err := http.Get(base + path)
	if err != nil {
		log.Printf("debug %s: %v", path, err)
		return
	}
	defer resp.Body.Close()
	switch v := into.(type) {
	case io.Writer:
		_, err = io.Copy(v, resp.Body)
	default:
		err = json.NewDecoder(resp.Body).Decode(v)
	}
	if err != nil {
		log.Printf("debug %s: %v", path, err)
	}
}

// measureFree saves the server's heap profile (when heapOut is set), reads
// its MemStats, asks it to return freed memory (debug.FreeOSMemory) and
// reports the RSS growth per connection after that.
func measureFree(base, heapOut string, pid int, rss0 int64, heap0 map[string]int64, n int) map[string]any {
	out := map[string]any{}
	if heapOut != "" {
		f, err := os.Create(heapOut)
		if err != nil {
			log.Fatal(err)
		}
		debugGet(base, "/debug/pprof/heap?gc=1", f)
		f.Close()
	}
	var before, after map[string]int64
	debugGet(base, "/debug/memstats", &before)
	debugGet(base, "/debug/free", &after)
	rss3, _ := status(pid)
	perConn := func(m map[string]int64, k string) int64 { return (m[k] - heap0[k]) / int64(n) }
	out["heap_inuse_per_conn_b"] = perConn(before, "heap_inuse")
	out["heap_alloc_per_conn_b"] = perConn(before, "heap_alloc")
	out["heap_alloc_after_free_per_conn_b"] = perConn(after, "heap_alloc")
	out["rss_per_conn_after_free_b"] = (rss3 - rss0) * 1024 / int64(n)
	return out
}

// dial connects, subscribes to the topics given (none when empty) and
// waits for CONNACK and SUBACK.
func dial(addr, id string, topics ...string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if useTLS {
		tc := tls.Client(c, tlsConfig)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, byte(len(id))}, id...)
	pkt := append([]byte{0x10, byte(len(body))}, body...)
	var sub []byte
	for _, t := range topics {
		if t != "" {
			sub = append(sub, 0, byte(len(t)))
			sub = append(append(sub, t...), 0)
		}
	}
	if len(sub) > 0 {
		pkt = append(pkt, 0x82, byte(2+len(sub)), 0, 1)
		pkt = append(pkt, sub...)
	}
	if _, err := c.Write(pkt); err != nil {
		c.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(c, 16)
	want := []byte{0x20}
	if len(sub) > 0 {
		want = append(want, 0x90)
	}
	for _, typ := range want {
		h, err := r.ReadByte()
		if err != nil || h != typ {
			c.Close()
			return nil, fmt.Errorf("want packet %#x, got %#x: %v", typ, h, err)
		}
		l, err := r.ReadByte()
		if err != nil {
			c.Close()
			return nil, err
		}
		if _, err := r.Discard(int(l)); err != nil {
			c.Close()
			return nil, err
		}
	}
	if r.Buffered() > 0 {
		c.Close()
		return nil, fmt.Errorf("unexpected bytes after SUBACK")
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// status reads VmRSS (KiB) and Threads from /proc/PID/status.
func status(pid int) (rss, threads int64) {
	if pid <= 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "Threads:":
			threads = v
		}
	}
	return rss, threads
}

// sockMem is the kernel's TCP memory in pages (/proc/net/sockstat "TCP: ... mem N").
func sockMem() int64 {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "TCP:" {
			for i := 1; i+1 < len(f); i++ {
				if f[i] == "mem" {
					v, _ := strconv.ParseInt(f[i+1], 10, 64)
					return v
				}
			}
		}
	}
	return 0
}
