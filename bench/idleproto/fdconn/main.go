// Command fdconn is depth 2 of docs/IDLE.md as a prototype: our own accept
// and epoll (EPOLLONESHOT), no net.Conn and no runtime poll descriptor, and
// a goroutine per burst of input that reads the socket itself with a
// pooled buffer until EAGAIN, then re-arms the registration and returns.
// Beside `epoll` (the loop reads and parses inline) it prices the shape
// that keeps the server's pull readers: a goroutine only while active.
package main

import (
	"errors"
	"flag"
	"log"
	"sync"

	"golang.org/x/sys/unix"

	"streamhub/bench/idleproto/mqttmin"
	"streamhub/bench/idleproto/rawlisten"
)

type conn struct {
	mqttmin.SyncWriter // publishers write from other goroutines
	fd                 int
	s                  mqttmin.Session // touched only by the burst goroutine
}

// fdWriter writes to a non-blocking socket; the prototype's writes are
// small, so a full socket buffer is treated as an error (the server would
// wait for EPOLLOUT).
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) { return unix.Write(int(w), p) }

type server struct {
	b     *mqttmin.Broker
	epfd  int
	conns sync.Map // fd -> *conn
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

func (s *server) arm(c *conn, op int) error {
	return unix.EpollCtl(s.epfd, op, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.fd)})
}

// burst reads until the socket has nothing more, then parks the connection.
func (s *server) burst(c *conn) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		n, err := unix.Read(c.fd, *bp)
		if errors.Is(err, unix.EAGAIN) {
			if s.arm(c, unix.EPOLL_CTL_MOD) == nil {
				return
			}
		}
		if err == nil && n > 0 {
			err = c.s.Feed(s.b, c, (*bp)[:n])
			if err == nil {
				continue
			}
		}
		s.conns.Delete(c.fd)
		s.b.Unsubscribe(c, c.s.Topics)
		_ = unix.Close(c.fd) // also leaves the epoll set
		return
	}
}

func (s *server) run(lfd int) {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(s.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		} else if err != nil {
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == lfd {
				s.accept(lfd)
			} else if v, ok := s.conns.Load(int(ev.Fd)); ok {
				go s.burst(v.(*conn))
			}
		}
	}
}

func (s *server) accept(lfd int) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: drained
		}
		c := &conn{fd: fd}
		c.W = fdWriter(fd)
		s.conns.Store(fd, c)
		if err := s.arm(c, unix.EPOLL_CTL_ADD); err != nil {
			s.conns.Delete(fd)
			_ = unix.Close(fd)
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	flag.Parse()
	lfd, err := rawlisten.Listen(*addr)
	if err != nil {
		log.Fatal(err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		log.Fatal(err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		log.Fatal(err)
	}
	(&server{b: mqttmin.NewBroker(), epfd: epfd}).run(lfd)
}
