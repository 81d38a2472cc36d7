// turnload measures a TURN server's relay: two clients allocate a relay
// each, and one sends UDP datagrams at a set rate to the other's relay
// address, through both allocations (relay to relay, as two browsers
// behind NATs connect). It prints the rate received and the server
// process's CPU (from /proc/PID/stat) per relayed Mbit/s. Credentials are
// the TURN REST API scheme's, so it drives streamhub (turn.secret) and
// coturn (use-auth-secret) alike.
//
//	turnload -server 127.0.0.1:3478 -secret s -pid 1234 -mbps 100
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pturn "github.com/pion/turn/v5"

	"streamhub/internal/turn"
)

func main() {
	server := flag.String("server", "127.0.0.1:3478", "TURN server host:port")
	secret := flag.String("secret", "", "shared secret (turn.secret, coturn's static-auth-secret)")
	realm := flag.String("realm", "streamhub", "realm")
	pid := flag.Int("pid", 0, "the server's process id, for its CPU")
	mbps := flag.Float64("mbps", 100, "rate sent, Mbit/s of payload")
	size := flag.Int("size", 1000, "payload bytes per datagram")
	duration := flag.Duration("duration", 5*time.Second, "how long to measure")
	flag.Parse()

	a, relayA := client(*server, *secret, *realm, "a")
	defer a.Close()
	b, relayB := client(*server, *secret, *realm, "b")
	defer b.Close()
	// Each side writes to the other once: that creates the permissions.
	if _, err := relayB.WriteTo([]byte("hi"), relayA.LocalAddr()); err != nil {
		log.Fatal(err)
	}
	var received atomic.Int64
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := relayB.ReadFrom(buf)
			if err != nil {
				return
			}
			received.Add(int64(n))
		}
	}()
	payload := make([]byte, *size)
	// Warm up (permissions, channel binding), then measure.
	send(relayA, relayB.LocalAddr(), payload, *mbps, time.Second)
	cpu0, r0, t0 := cpuTicks(*pid), received.Load(), time.Now()
	sent := send(relayA, relayB.LocalAddr(), payload, *mbps, *duration)
	time.Sleep(200 * time.Millisecond) // what is in flight
	cpu1, r1, elapsed := cpuTicks(*pid), received.Load(), time.Since(t0)
	secs := duration.Seconds()
	gotMbps := float64(r1-r0) * 8 / 1e6 / secs
	cpuPct := float64(cpu1-cpu0) / 100 / elapsed.Seconds() * 100
	fmt.Printf("sent_mbps=%.1f received_mbps=%.1f loss=%.2f%% server_cpu=%.1f%% cpu_per_100mbps=%.1f%%\n",
		float64(sent)*8/1e6/secs, gotMbps, 100*(1-float64(r1-r0)/float64(max(sent, 1))), cpuPct, cpuPct/gotMbps*100)
}

// client allocates a relay for user with REST API credentials.
func client(server, secret, realm, user string) (*pturn.Client, net.PacketConn) {
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	username := strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10) + ":" + user
	c, err := pturn.NewClient(&pturn.ClientConfig{STUNServerAddr: server, TURNServerAddr: server, Username: username,
		Password: turn.Password([]byte(secret), username), Realm: realm, Conn: conn})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		log.Fatal(err)
	}
	relay, err := c.Allocate()
	if err != nil {
		log.Fatalf("allocate as %s: %v", user, err)
	}
	return c, relay
}

// send writes payload to to at mbps for d, paced every millisecond, and
// returns the bytes sent.
func send(relay net.PacketConn, to net.Addr, payload []byte, mbps float64, d time.Duration) int64 {
	perMs := mbps * 1e6 / 8 / 1000
	start := time.Now()
	var sent int64
	for time.Since(start) < d {
		due := int64(perMs * float64(time.Since(start).Milliseconds()+1))
		for sent < due {
			if _, err := relay.WriteTo(payload, to); err != nil {
				log.Fatal(err)
			}
			sent += int64(len(payload))
		}
		time.Sleep(time.Millisecond)
	}
	return sent
}

// cpuTicks is pid's user and system time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		log.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
