package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit/poll"
)

// MosquittoPath is Debian's Mosquitto broker (package mosquitto).
const MosquittoPath = "/usr/sbin/mosquitto"

// MosquittoOptions adds listeners to a test's Mosquitto besides plain TCP.
type MosquittoOptions struct {
	// TLS, when CertFile is set: a listener with this certificate, and
	// with CAFile, one that requires client certificates signed by it.
	CertFile, KeyFile, CAFile string
	WebSockets                bool
	// Config is appended to the generated configuration: a bridge's
	// connection section, for one.
	Config string
}

// Mosquitto is a Mosquitto broker run by a test on free ports, with
// persistence in a temporary directory, so that Stop and Start keep its
// sessions and queued messages as a restarted production broker does.
type Mosquitto struct {
	t       testing.TB
	Port    int // MQTT over TCP
	TLSPort int // 0 without TLS
	WSPort  int // 0 without WebSockets
	conf    string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// StartMosquitto runs a Mosquitto, stopped when the test ends; the test is
// skipped when the broker is not installed (scripts/test.sh installs it).
func StartMosquitto(t testing.TB, opts MosquittoOptions) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(MosquittoPath); err != nil {
		t.Skipf("mosquitto is not installed (%v): apt-get install mosquitto", err)
	}
	dir := t.TempDir()
	m := &Mosquitto{t: t, Port: FreePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
	var b strings.Builder
	if os.Geteuid() == 0 {
		b.WriteString("user root\n") // else it drops to a user who cannot write dir
	}
	fmt.Fprintf(&b, "persistence true\npersistence_location %s/\nmax_queued_messages 0\nmax_inflight_messages 0\nqueue_qos0_messages true\n", dir)
	fmt.Fprintf(&b, "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	fmt.Fprintf(&b, "listener %d 127.0.0.1\nallow_anonymous true\n", m.Port)
	if opts.CertFile != "" {
		m.TLSPort = FreePort(t)
		fmt.Fprintf(&b, "listener %d 127.0.0.1\ncertfile %s\nkeyfile %s\n", m.TLSPort, opts.CertFile, opts.KeyFile)
		if opts.CAFile != "" {
			fmt.Fprintf(&b, "cafile %s\nrequire_certificate true\n", opts.CAFile)
		}
	}
	if opts.WebSockets {
		m.WSPort = FreePort(t)
		fmt.Fprintf(&b, "listener %d 127.0.0.1\nprotocol websockets\n", m.WSPort)
	}
	b.WriteString(opts.Config)
	if err := os.WriteFile(m.conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL is mqtt://127.0.0.1:PORT.
func (m *Mosquitto) URL() string { return fmt.Sprintf("mqtt://127.0.0.1:%d", m.Port) }

// Start runs the broker (again, after Stop) and waits until it accepts
// connections on every listener.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command(MosquittoPath, "-c", m.conf)
	m.cmd.Stderr = &logWriter{t: m.t}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	exited := make(chan struct{})
	m.exited = exited
	cmd := m.cmd
	go func() { _ = cmd.Wait(); close(exited) }()
	for _, port := range []int{m.Port, m.TLSPort, m.WSPort} {
		if port == 0 {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		poll.Eventually(m.t, 10*time.Second, "mosquitto listening on "+addr, func() bool {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
	}
}

// Stop ends the broker with SIGTERM, as an init system does (it saves its
// sessions and queued messages), and waits for it; killed after 10 s.
func (m *Mosquitto) Stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

// logWriter passes a child process's output to the test log.
type logWriter struct{ t testing.TB }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
