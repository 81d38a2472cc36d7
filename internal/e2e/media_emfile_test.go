package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

// The RTSP listener outlives running out of file descriptors: the binary's
// limit is lowered (prlimit) until an accept fails with EMFILE; once the
// connections are gone RTSP answers again and still holds its UDP ports.
// gortsplib ends its whole server, UDP included, on any accept error.
func TestRTSPSurvivesOutOfFiles(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	t.Parallel()
	srv := startLogged(t)
	rtspAddr, udpAddr := srv.field(t, "rtsp", "addr"), srv.field(t, "rtsp", "udp")
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.cmd.Process.Pid))
	if err != nil {
		t.Skipf("cannot count the server's file descriptors: %v", err)
	}
	limit := len(fds) + 8
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(srv.cmd.Process.Pid), fmt.Sprintf("--nofile=%d:%d", limit, limit)).CombinedOutput(); err != nil {
		t.Skipf("prlimit: %v: %s", err, out)
	}
	// Far more connections than descriptors left; the kernel completes
	// them all (the listen backlog) while the server's accepts fail.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 64 {
		c, err := net.Dial("tcp", rtspAddr)
		if err != nil {
			break // the listener is gone
		}
		conns = append(conns, c)
	}
	testkit.Eventually(t, 20*time.Second, "an accept to fail for want of file descriptors", func() bool {
		return srv.logged("out of file descriptors") || refused(rtspAddr)
	})
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	testkit.Eventually(t, 20*time.Second, "RTSP to answer again", func() bool {
		c, err := net.DialTimeout("tcp", rtspAddr, 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprintf(c, "OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 1\r\n\r\n", rtspAddr)
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.HasPrefix(line, "RTSP/1.0 200")
	})
	if pc, err := net.ListenPacket("udp", udpAddr); err == nil {
		pc.Close()
		t.Fatalf("RTSP's UDP port %s was let go", udpAddr)
	}
}

// refused reports whether nothing listens on addr any more.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// loggedServer is the binary with its log kept for the test to read.
type loggedServer struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	seen chan struct{} // every listener has said where it listens
}

func startLogged(t *testing.T) *loggedServer {
	t.Helper()
	cmd := exec.Command(cliPath, serveArgs("")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &loggedServer{cmd: cmd, seen: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		<-done
		if t.Failed() {
			s.mu.Lock()
			t.Logf("server log:\n%s", strings.Join(s.log, "\n"))
			s.mu.Unlock()
		}
	})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log = append(s.log, sc.Text())
			s.mu.Unlock()
			if strings.Contains(sc.Text(), "url=http://") {
				close(s.seen)
			}
		}
	}()
	select {
	case <-s.seen:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	return s
}

func (s *loggedServer) logged(text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.log {
		if strings.Contains(l, text) {
			return true
		}
	}
	return false
}

// field is a field of the "listening" line of transport.
func (s *loggedServer) field(t *testing.T, transport, name string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.log {
		if !strings.Contains(l, "msg=listening") || !strings.Contains(l, "transport="+transport+" ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, name+"="); ok {
				return v
			}
		}
	}
	t.Fatalf("no %s= in %s's listening line", name, transport)
	return ""
}
