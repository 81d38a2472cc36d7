// Command park is the hybrid idle-connection prototype: the standard
// library accepts and serves each connection (net.Conn, its deadlines, and
// in the server TLS and HTTP upgrades) on a goroutine while it has input;
// when the input is used up, the goroutine registers the socket with a
// small epoll of our own (EPOLLONESHOT) and returns. Readiness starts a new
// goroutine that reads through the same net.Conn. An idle connection keeps
// its net.Conn (the runtime's poll descriptor included) and its protocol
// state, but no goroutine and no read buffer.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"log"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"streamhub/bench/idleproto/mqttmin"
	"streamhub/bench/idleproto/selfsigned"
)

type conn struct {
	mqttmin.SyncWriter // publishers write from other goroutines
	nc                 net.Conn
	rc                 syscall.RawConn
	fd                 int
	s                  mqttmin.Session
	// tls is set when nc is a *tls.Conn, which may hold records it read
	// ahead: they must be drained before the socket is parked.
	tls bool
	// dropBufs: zero tls.Conn's read buffers before parking (diagnostic).
	dropBufs bool
}

type parker struct {
	epfd  int
	conns sync.Map // fd -> *conn
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// serve reads while input is there, then parks the connection.
func (p *parker) serve(b *mqttmin.Broker, c *conn) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		n, err := c.nc.Read(*bp)
		if err == nil {
			err = c.s.Feed(b, c, (*bp)[:n])
		}
		if err != nil {
			p.conns.Delete(c.fd)
			b.Unsubscribe(c, c.s.Topics)
			c.nc.Close() // also drops it from our epoll
			return
		}
		if n < len(*bp) && !p.readable(c) {
			if c.tls {
				more, err := drainTLS(c, *bp)
				if err == nil && more > 0 {
					err = c.s.Feed(b, c, (*bp)[:more])
				}
				if err != nil {
					p.conns.Delete(c.fd)
					b.Unsubscribe(c, c.s.Topics)
					c.nc.Close()
					return
				}
				if more > 0 {
					continue
				}
			}
			if c.dropBufs {
				dropTLSBuffers(c.nc.(*tls.Conn))
			}
			p.park(c)
			return
		}
	}
}

// drainTLS reads what the TLS connection already holds, without waiting:
// a deadline in the past fails any read of the socket at once, and
// crypto/tls does not keep a timeout as a permanent error.
func drainTLS(c *conn, buf []byte) (int, error) {
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	n, err := c.nc.Read(buf)
	_ = c.nc.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

// readable reports whether more input is waiting, without waiting for it.
func (p *parker) readable(c *conn) bool {
	more := false
	_ = c.rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		more = n > 0 || (err != nil && !errors.Is(err, unix.EAGAIN))
	})
	return more
}

func (p *parker) park(c *conn) {
	ev := &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, c.fd, ev); errors.Is(err, unix.ENOENT) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, ev)
	}
}

func (p *parker) run(b *mqttmin.Broker) {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			if v, ok := p.conns.Load(int(ev.Fd)); ok {
				go p.serve(b, v.(*conn))
			}
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	useTLS := flag.Bool("tls", false, "serve MQTT over TLS (self-signed)")
	certKind := flag.String("cert", "ecdsa", "with -tls: the certificate's key, ecdsa (P-256) or rsa (2048)")
	noTickets := flag.Bool("notickets", false, "with -tls: SessionTicketsDisabled (no TLS 1.3 NewSessionTicket after the handshake)")
	readCap := flag.Int("readcap", 0, "with -tls: read the socket at most this many bytes at a time under crypto/tls (0: no cap)")
	splitHello := flag.Int("splithello", 0, "with -tls: hand crypto/tls the ClientHello in records of at most this many bytes (0: as it came)")
	dropBufs := flag.Bool("dropbufs", false, "with -tls, DIAGNOSTIC ONLY: zero tls.Conn's rawInput, input and hand before parking (unsafe; measures what they cost)")
	debugAddr := flag.String("debug", "", "serve net/http/pprof, /debug/memstats and /debug/free on this address")
	memProfileRate := flag.Int("memprofilerate", 0, "runtime.MemProfileRate (1: every allocation, for an exact heap profile; it costs memory per object, so not for RSS figures); 0: the default")
	flag.Parse()
	if *memProfileRate > 0 {
		runtime.MemProfileRate = *memProfileRate
	}
	var tc *tls.Config
	if *useTLS {
		var err error
		if tc, err = selfsigned.ServerConfigKey(*certKind); err != nil {
			log.Fatal(err)
		}
		tc.MinVersion = tls.VersionTLS12 // as internal/tlsconf
		tc.SessionTicketsDisabled = *noTickets
	}
	if *debugAddr != "" {
		go serveDebug(*debugAddr)
	}
	b := mqttmin.NewBroker()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	p := &parker{epfd: epfd}
	go p.run(b)
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		rc, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			log.Fatal(err)
		}
		c := &conn{nc: nc, rc: rc}
		if tc != nil {
			var under net.Conn = nc
			if *readCap > 0 {
				under = &cappedReads{Conn: nc, max: *readCap}
			}
			if *splitHello > 0 {
				under = &helloSplitter{Conn: under, max: *splitHello}
			}
			c.nc, c.tls, c.dropBufs = tls.Server(under, tc), true, *dropBufs
		}
		c.W = c.nc
		_ = rc.Control(func(fd uintptr) { c.fd = int(fd) })
		p.conns.Store(c.fd, c)
		go p.serve(b, c)
	}
}
