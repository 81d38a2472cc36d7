// Command client holds N idle MQTT 3.1.1 connections against a server
// (CONNECT, SUBSCRIBE to idle/all and idle/<i>, then nothing), reports the
// server's RSS growth per connection and the kernel's TCP socket memory,
// then publishes once to idle/all and checks that every connection received
// it. One line of JSON on stdout. Bounded: every wait has a timeout.
//
//	client -addr 127.0.0.1:1883 -n 15000 -pid PID
package main

import (
	"bufio"
	"crypto/tls"
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
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "server address")
	n := flag.Int("n", 15000, "idle connections")
	pid := flag.Int("pid", 0, "server pid (for /proc/PID/status)")
	hold := flag.Duration("hold", 2*time.Second, "idle time before measuring")
	flag.BoolVar(&useTLS, "tls", false, "connect over TLS (certificate not verified)")
	flag.Parse()

	rss0, thr0 := status(*pid)
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
	out := map[string]any{
		"addr": *addr, "conns": *n, "connect_s": round(connectSecs),
		"rss_before_kib": rss0, "rss_idle_kib": rss1, "rss_after_publish_kib": rss2,
		"rss_per_conn_b": (rss1 - rss0) * 1024 / int64(*n),
		"threads_before": thr0, "threads_idle": thr1,
		"tcp_mem_pages_delta": sock1 - sock0,
		"received":            got.Load(), "fanout_s": round(fanout),
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

var useTLS bool

// dial connects, subscribes to the topics given (none when empty) and
// waits for CONNACK and SUBACK.
func dial(addr, id string, topics ...string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if useTLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
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
