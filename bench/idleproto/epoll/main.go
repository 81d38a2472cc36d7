// Command epoll is the idle-connection prototype on a thin layer of our
// own over epoll (golang.org/x/sys/unix), to price what the libraries add:
// one loop per core, one shared read buffer per loop, a connection is its
// fd, its MQTT session and, only while the socket refuses bytes, a pending
// output slice. Linux only; level-triggered.
package main

import (
	"errors"
	"flag"
	"log"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"streamhub/bench/idleproto/mqttmin"
	"streamhub/bench/idleproto/rawlisten"
)

type conn struct {
	fd   int
	loop *loop
	s    mqttmin.Session // touched only by the owning loop
	mu   sync.Mutex      // guards out and closed: writers come from any goroutine
	out  []byte
	shut bool
}

type loop struct {
	epfd int
	buf  []byte
}

type server struct {
	b     *mqttmin.Broker
	loops []*loop
	conns sync.Map // fd -> *conn
	next  atomic.Uint32
}

// Write sends p now if the socket takes it, else keeps the rest and asks
// the loop for EPOLLOUT.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shut {
		return 0, unix.EBADF
	}
	if len(c.out) == 0 {
		n, err := unix.Write(c.fd, p)
		if err != nil && !errors.Is(err, unix.EAGAIN) {
			return 0, err
		}
		n = max(n, 0)
		if n == len(p) {
			return n, nil
		}
		p = p[n:]
		if err := unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(c.fd)}); err != nil {
			return 0, err
		}
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

func (c *conn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if errors.Is(err, unix.EAGAIN) {
			return nil
		}
		if err != nil {
			return err
		}
		c.out = c.out[n:]
	}
	c.out = nil
	return unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
}

func (s *server) close(c *conn) {
	c.mu.Lock()
	if c.shut {
		c.mu.Unlock()
		return
	}
	c.shut = true
	c.out = nil
	_ = unix.EpollCtl(c.loop.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	s.conns.Delete(c.fd)
	_ = unix.Close(c.fd)
	c.mu.Unlock()
	s.b.Unsubscribe(c, c.s.Topics)
}

func (s *server) accept(lfd int) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: drained
		}
		l := s.loops[int(s.next.Add(1))%len(s.loops)]
		c := &conn{fd: fd, loop: l}
		s.conns.Store(fd, c)
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			s.close(c)
		}
	}
}

func (s *server) run(l *loop, lfd int) {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(l.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			log.Fatal(err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == lfd {
				s.accept(lfd)
				continue
			}
			v, ok := s.conns.Load(fd)
			if !ok {
				continue
			}
			c := v.(*conn)
			if ev.Events&unix.EPOLLOUT != 0 {
				if err := c.flush(); err != nil {
					s.close(c)
					continue
				}
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				s.read(l, c)
			}
		}
	}
}

func (s *server) read(l *loop, c *conn) {
	for {
		n, err := unix.Read(c.fd, l.buf)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil || n == 0 {
			s.close(c)
			return
		}
		if err := c.s.Feed(s.b, c, l.buf[:n]); err != nil {
			s.close(c)
			return
		}
		if n < len(l.buf) {
			return // level-triggered: the loop comes back if more is there
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
	s := &server{b: mqttmin.NewBroker()}
	for range runtime.GOMAXPROCS(0) {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			log.Fatal(err)
		}
		s.loops = append(s.loops, &loop{epfd: epfd, buf: make([]byte, 64<<10)})
	}
	if err := unix.EpollCtl(s.loops[0].epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		log.Fatal(err)
	}
	for _, l := range s.loops[1:] {
		go s.run(l, lfd)
	}
	s.run(s.loops[0], lfd)
}
