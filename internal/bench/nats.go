package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// NATS's own client protocol (nats://HOST:PORT), the least of it: CONNECT,
// SUB and PUB, answering the server's PINGs. Written here rather than taken
// from nats.go, whose client keeps goroutines, timers and buffers per
// connection that would weigh on a generator holding 15,000 of them.

// natsSubject turns an MQTT-style topic or filter into a NATS subject:
// levels split by "." instead of "/", "*" and ">" for "+" and "#".
func natsSubject(topic string) string {
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		switch l {
		case "+":
			levels[i] = "*"
		case "#":
			levels[i] = ">"
		}
	}
	return strings.Join(levels, ".")
}

// dialNATS connects and returns after the server answered a PING, so that
// what was sent before (a SUB) is in effect.
func dialNATS(addr, first string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	br := bufio.NewReaderSize(nc, 4096)
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		nc.Close()
		return nil, nil, fmt.Errorf("nats %s: %w", addr, err)
	}
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		return fail(fmt.Errorf("greeting %q: %v", line, err))
	}
	if _, err := fmt.Fprintf(nc, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n%sPING\r\n", first); err != nil {
		return fail(err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return fail(err)
		}
		if strings.HasPrefix(line, "-ERR") {
			return fail(fmt.Errorf("%s", strings.TrimSpace(line)))
		}
		if strings.HasPrefix(line, "PONG") {
			break
		}
	}
	nc.SetDeadline(time.Time{})
	return nc, br, nil
}

// natsRead reads until the connection ends: every MSG's payload goes to
// onMsg, every PING is answered under wmu, every PONG is told to pongs (if
// not nil and not full).
func natsRead(nc net.Conn, br *bufio.Reader, wmu *sync.Mutex, onMsg func([]byte), pongs chan<- struct{}) {
	var payload []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case strings.HasPrefix(string(line), "PONG"):
			select {
			case pongs <- struct{}{}:
			default:
			}
		case strings.HasPrefix(string(line), "PING"):
			wmu.Lock()
			_, err = io.WriteString(nc, "PONG\r\n")
			wmu.Unlock()
			if err != nil {
				return
			}
		case strings.HasPrefix(string(line), "MSG "):
			// MSG <subject> <sid> [reply-to] <bytes>, the payload, CRLF.
			var p []byte
			if p, payload, err = readMSG(br, line, 2, payload); err != nil {
				return
			}
			onMsg(p)
		}
	}
}

// openNATSSub subscribes to filter (as a NATS subject).
func openNATSSub(addr, filter string, onMsg func([]byte)) (func(), error) {
	nc, br, err := dialNATS(addr, "SUB "+natsSubject(filter)+" 1\r\n")
	if err != nil {
		return nil, err
	}
	go natsRead(nc, br, &sync.Mutex{}, onMsg, nil)
	return func() { nc.Close() }, nil
}

// natsPublisher publishes with PUB, buffered.
type natsPublisher struct {
	nc    net.Conn
	mu    sync.Mutex // the buffer, and the socket against natsRead's PONGs
	bw    *bufio.Writer
	pongs chan struct{}
}

func openNATSPub(addr string) (*natsPublisher, error) {
	nc, br, err := dialNATS(addr, "")
	if err != nil {
		return nil, err
	}
	p := &natsPublisher{nc: nc, bw: bufio.NewWriterSize(nc, 64<<10), pongs: make(chan struct{}, 1)}
	go natsRead(nc, br, &p.mu, func([]byte) {}, p.pongs)
	return p, nil
}

func (p *natsPublisher) send(topic string, payload []byte, flush bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.bw, "PUB %s %d\r\n", natsSubject(topic), len(payload))
	p.bw.Write(payload)
	if _, err := p.bw.WriteString("\r\n"); err != nil {
		return err
	}
	if flush {
		return p.bw.Flush()
	}
	return nil
}

func (p *natsPublisher) flush() {
	p.mu.Lock()
	p.bw.Flush()
	p.mu.Unlock()
}

// close flushes, then waits for the server to answer a PING, so that every
// PUB before it was taken.
func (p *natsPublisher) close() {
	p.mu.Lock()
	p.bw.WriteString("PING\r\n")
	p.bw.Flush()
	p.mu.Unlock()
	select {
	case <-p.pongs:
	case <-time.After(10 * time.Second):
	}
	p.nc.Close()
}
