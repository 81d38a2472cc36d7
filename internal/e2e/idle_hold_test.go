package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

// idleHeld is how many idle connections TestIdleConnectionsHeld holds on
// each protocol (issue 29). The server runs as a process of its own, so this
// process holds only the client sockets, under a limit of 20,000 open files.
const idleHeld = 15000

// idleDialers bounds how many connections are being set up at once.
const idleDialers = 64

// TestIdleConnectionsHeld holds 15,000 idle MQTT connections, then 15,000
// SSE streams, then 15,000 plain WebSockets on the streamhub binary, all
// subscribed to one topic; one HTTP publish to it must reach every one of
// them, and once they close the server counts no connection and no
// subscription left (issue 29: idle connections without a goroutine each
// must still deliver and still notice their clients leaving).
//
// The clients are raw sockets with the least framing each protocol needs,
// no goroutine per connection: the connections are read only after the
// publish, by a few workers, from what the kernel buffered.
func TestIdleConnectionsHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("holds 15,000 connections per protocol")
	}
	var nofile syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err == nil && nofile.Cur < idleHeld+1000 {
		t.Skipf("needs %d open files, the limit is %d", idleHeld+1000, nofile.Cur)
	}
	// Plain WebSockets are dropped after 3 × ws.heartbeat without a word
	// from the client, and these clients never answer the server's pings.
	t.Setenv("STREAMHUB_WS_HEARTBEAT", "10m")
	rs := startBinary(t, "")
	httpAddr := strings.TrimPrefix(rs.url, "http://")
	for _, p := range []struct {
		name, addr string
		open       func(nc net.Conn, i int, buf []byte) error
	}{
		{"mqtt", rs.mqtt, openIdleMQTT},
		{"sse", httpAddr, openIdleSSE},
		{"ws", httpAddr, openIdleWS},
	} {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			base := metricValue(t, rs.url, "streamhub_subscriptions")
			conns := holdIdle(ctx, t, p.addr, p.open)
			defer closeAll(conns)
			testkit.Eventually(t, time.Minute, "every subscription counted", func() bool {
				return metricValue(t, rs.url, "streamhub_subscriptions") == base+idleHeld
			})
			// Where the server parks idle sockets (kit/idlepoll), say how
			// many are: a figure to read, not a condition of the test.
			if m := scrapeOnce(t, rs.url); strings.Contains(m, "streamhub_connections_parked ") {
				t.Logf("%s: %.0f connections parked", p.name, metricIn(m, "streamhub_connections_parked"))
			}
			payload := "idle-" + p.name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
			publishOnce(t, rs.url, "idle/all", payload)
			if missed := readEach(ctx, conns, []byte(payload)); len(missed) > 0 {
				t.Fatalf("%d of %d %s connections did not receive the publish; first: %v", len(missed), len(conns), p.name, missed[0])
			}
			closeAll(conns)
			// The metrics request itself is one HTTP connection.
			testkit.Eventually(t, time.Minute, "the server to count the clients gone", func() bool {
				m := scrapeOnce(t, rs.url)
				return metricIn(m, "streamhub_subscriptions") == base &&
					metricIn(m, `streamhub_connections{transport="mqtt"}`) == 0 &&
					metricIn(m, `streamhub_connections{transport="http"}`) <= 1
			})
		})
	}
}

// holdIdle opens idleHeld connections to addr, each set up by open, with
// idleDialers at a time; the first failure fails the test.
func holdIdle(ctx context.Context, t *testing.T, addr string, open func(net.Conn, int, []byte) error) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, idleHeld)
	dialer := net.Dialer{Timeout: 30 * time.Second}
	deadline, _ := ctx.Deadline()
	errs := forEachConn(idleHeld, true, func(i int, buf []byte) error {
		nc, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		nc.SetDeadline(deadline)
		if err = open(nc, i, buf); err == nil {
			err = nc.SetDeadline(time.Time{})
		}
		if err != nil {
			nc.Close()
			return err
		}
		conns[i] = nc
		return nil
	})
	if len(errs) > 0 {
		closeAll(conns)
		t.Fatal(errs[0])
	}
	return conns
}

// forEachConn calls work for 0..n-1 on idleDialers goroutines, each with a
// buffer of its own, and returns the failures (only the first with
// stopEarly, which then ends the others' work).
func forEachConn(n int, stopEarly bool, work func(i int, buf []byte) error) []error {
	var mu sync.Mutex
	var errs []error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range idleDialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := work(i, buf); err != nil {
					mu.Lock()
					if !stopEarly || len(errs) == 0 {
						errs = append(errs, fmt.Errorf("connection %d: %w", i, err))
					}
					mu.Unlock()
					if stopEarly {
						next.Store(int64(n))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// closeAll closes every other connection with a reset (SO_LINGER 0) and the
// rest with a FIN: the server must notice both, and half as many client
// ports wait in TIME_WAIT before the next protocol's 15,000 connects.
func closeAll(conns []net.Conn) {
	for i, nc := range conns {
		if nc == nil {
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok && i%2 == 0 {
			tc.SetLinger(0)
		}
		nc.Close()
	}
}

// readUntil reads from nc into buf until what was read contains want, and
// returns what was read (within buf's size).
func readUntil(nc net.Conn, buf, want []byte) ([]byte, error) {
	n := 0
	for !bytes.Contains(buf[:n], want) {
		if n == len(buf) {
			return buf[:n], fmt.Errorf("no %q in the first %d bytes: %q", want, n, buf[:n])
		}
		m, err := nc.Read(buf[n:])
		n += m
		if err != nil && !bytes.Contains(buf[:n], want) {
			return buf[:n], fmt.Errorf("waiting for %q after %q: %w", want, buf[:n], err)
		}
	}
	return buf[:n], nil
}

// readFull reads exactly len(p) bytes.
func readFull(nc net.Conn, p []byte) error {
	for n := 0; n < len(p); {
		m, err := nc.Read(p[n:])
		n += m
		if err != nil && n < len(p) {
			return err
		}
	}
	return nil
}

// mqttPacket frames an MQTT control packet: the first byte, the remaining
// length (variable length), the body.
func mqttPacket(first byte, body []byte) []byte {
	p := []byte{first}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		p = append(p, b)
		if n == 0 {
			break
		}
	}
	return append(p, body...)
}

func mqttString(s string) []byte {
	return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...)
}

// openIdleMQTT connects with MQTT 3.1.1 (clean session, no keep-alive) and
// subscribes to idle/all at QoS 0.
func openIdleMQTT(nc net.Conn, i int, buf []byte) error {
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 0) // level 4, clean session, keep-alive 0
	connect = append(connect, mqttString("idle-"+strconv.Itoa(i))...)
	if _, err := nc.Write(mqttPacket(0x10, connect)); err != nil {
		return err
	}
	if err := readFull(nc, buf[:4]); err != nil {
		return fmt.Errorf("connack: %w", err)
	}
	if !bytes.Equal(buf[:4], []byte{0x20, 2, 0, 0}) {
		return fmt.Errorf("connack % x", buf[:4])
	}
	subscribe := append([]byte{0, 1}, mqttString("idle/all")...)
	if _, err := nc.Write(mqttPacket(0x82, append(subscribe, 0))); err != nil {
		return err
	}
	if err := readFull(nc, buf[:5]); err != nil {
		return fmt.Errorf("suback: %w", err)
	}
	if !bytes.Equal(buf[:5], []byte{0x90, 3, 0, 1, 0}) {
		return fmt.Errorf("suback % x", buf[:5])
	}
	return nil
}

// openIdleSSE subscribes to idle/all over HTTP/1.1 and reads the head.
func openIdleSSE(nc net.Conn, _ int, buf []byte) error {
	return requestHead(nc, buf, "GET /v1/subscribe?topic=idle/all HTTP/1.1\r\nHost: streamhub\r\nAccept: text/event-stream\r\n\r\n", "200")
}

// openIdleWS opens a plain WebSocket on idle/all (/v1/ws/{topic}). The key
// is fixed: the handshake's answer is checked by its status alone.
func openIdleWS(nc net.Conn, _ int, buf []byte) error {
	return requestHead(nc, buf, "GET /v1/ws/idle/all HTTP/1.1\r\nHost: streamhub\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", "101")
}

// requestHead sends an HTTP/1.1 request and reads the answer's head, which
// must have status.
func requestHead(nc net.Conn, buf []byte, request, status string) error {
	if _, err := io.WriteString(nc, request); err != nil {
		return err
	}
	head, err := readUntil(nc, buf, []byte("\r\n\r\n"))
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 "+status+" ")) {
		return fmt.Errorf("%s answered %q", strings.Fields(request)[1], head)
	}
	return nil
}

// readEach reads every connection, a few at a time, until it has received
// payload (verbatim in an MQTT PUBLISH, an SSE data line and a WebSocket
// text frame alike), and returns the failures.
func readEach(ctx context.Context, conns []net.Conn, payload []byte) []error {
	deadline, _ := ctx.Deadline()
	return forEachConn(len(conns), false, func(i int, buf []byte) error {
		conns[i].SetReadDeadline(deadline)
		_, err := readUntil(conns[i], buf, payload)
		return err
	})
}

// noKeepAlive makes one request per connection, so that the metrics and
// publish requests leave no HTTP connection behind to count.
var noKeepAlive = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func publishOnce(t *testing.T, base, topic, payload string) {
	t.Helper()
	resp, err := noKeepAlive.Post(base+"/v1/publish/"+topic, "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("publish: %s", resp.Status)
	}
}

func scrapeOnce(t *testing.T, base string) string {
	t.Helper()
	resp, err := noKeepAlive.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func metricValue(t *testing.T, base, sample string) float64 {
	t.Helper()
	return metricIn(scrapeOnce(t, base), sample)
}

// metricIn is sample's value in a Prometheus text exposition (0 when absent).
func metricIn(exposition, sample string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if value, ok := strings.CutPrefix(line, sample+" "); ok {
			v, _ := strconv.ParseFloat(value, 64)
			return v
		}
	}
	return 0
}
