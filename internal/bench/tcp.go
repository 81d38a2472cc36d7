package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// streamhub's raw TCP text protocol (--tcp): PUB <topic> <n>\n<bytes>\n is
// answered +OK <cursor>; SUB <filter>\n is answered +OK, then every message
// arrives as MSG <topic> <n>\n<bytes>\n.

func tcpAddr(target string) (string, bool) { return strings.CutPrefix(target, "tcp://") }

func dialTCP(addr string) (net.Conn, *bufio.Reader, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return nc, bufio.NewReaderSize(nc, 64<<10), nil
}

// openTCPSub subscribes to filter; every MSG's payload goes to onMsg.
func openTCPSub(addr, filter string, onMsg func([]byte)) (func(), error) {
	nc, br, err := dialTCP(addr)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintf(nc, "SUB %s\n", filter); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		nc.Close()
		return nil, fmt.Errorf("subscribe %s over tcp: %q %v", filter, line, err)
	}
	nc.SetReadDeadline(time.Time{})
	go func() {
		var payload []byte
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			// MSG <topic> <n>
			if fields := strings.Fields(string(line)); len(fields) < 3 || fields[0] != "MSG" {
				continue
			}
			var p []byte
			if p, payload, err = readMSG(br, line, 1, payload); err != nil {
				return
			}
			onMsg(p)
		}
	}()
	return func() { nc.Close() }, nil
}

// readMSG reads the payload a "MSG ... <n>" line announces (streamhub's TCP
// text protocol and NATS's: the length is the line's last field) and the
// term bytes of line end after it, into buf or a larger one it returns.
func readMSG(br *bufio.Reader, line []byte, term int, buf []byte) (payload, grown []byte, err error) {
	fields := strings.Fields(string(line))
	n, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil || n < 0 {
		return nil, buf, fmt.Errorf("bad MSG line %q", line)
	}
	if cap(buf) < n+term {
		buf = make([]byte, n+term)
	}
	if _, err := io.ReadFull(br, buf[:n+term]); err != nil {
		return nil, buf, err
	}
	return buf[:n], buf, nil
}

// tcpPublisher publishes with PUB and reads the +OK answers as they come.
type tcpPublisher struct {
	nc   net.Conn
	bw   *bufio.Writer
	mu   sync.Mutex
	err  error
	done chan struct{}
}

func openTCPPub(addr string) (*tcpPublisher, error) {
	nc, br, err := dialTCP(addr)
	if err != nil {
		return nil, err
	}
	p := &tcpPublisher{nc: nc, bw: bufio.NewWriterSize(nc, 64<<10), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(string(line), "-ERR") {
				p.mu.Lock()
				p.err = fmt.Errorf("publish over tcp: %s", strings.TrimSpace(string(line)))
				p.mu.Unlock()
			}
		}
	}()
	return p, nil
}

func (p *tcpPublisher) send(topic string, payload []byte, flush bool) error {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		return err
	}
	p.bw.WriteString("PUB ")
	p.bw.WriteString(topic)
	p.bw.WriteByte(' ')
	p.bw.WriteString(strconv.Itoa(len(payload)))
	p.bw.WriteByte('\n')
	p.bw.Write(payload)
	if err := p.bw.WriteByte('\n'); err != nil {
		return err
	}
	if flush {
		return p.bw.Flush()
	}
	return nil
}

func (p *tcpPublisher) flush() { p.bw.Flush() }

// close ends the stream and waits for the server to close its side, so
// that no unread answer makes the close a reset that could lose publishes.
func (p *tcpPublisher) close() {
	p.bw.Flush()
	if tc, ok := p.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
	p.nc.Close()
}
