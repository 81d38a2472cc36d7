package testkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/testkit/ports"
)

// natsServerModule is built into the nats-server binary the process tests run.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// NATSProcess is one nats-server of a cluster, run as a separate process
// (so that it can be killed with SIGKILL, as a machine dies).
type NATSProcess struct {
	Name string
	URL  string // nats://127.0.0.1:PORT, for clients
	cmd  *exec.Cmd
	done chan struct{} // closed once the process was reaped
	log  *lockedBuffer // its output, for a start that fails
}

// Kill ends the server with SIGKILL and waits until it is gone.
func (p *NATSProcess) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Running reports whether the process has not ended.
func (p *NATSProcess) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// StartNATSProcesses runs n nats-server processes with JetStream, routed
// to each other as one cluster, on free loopback ports, each with its
// store in a temporary directory, until the test ends (or Kill). It
// returns once JetStream answers through every server, so streams with n
// replicas can be created.
func StartNATSProcesses(t testing.TB, n int) []*NATSProcess {
	t.Helper()
	bin := NATSServerBinary(t)
	var why string
	for range natsStartAttempts {
		procs, err := startNATSCluster(t, bin, n)
		if err == nil {
			return procs
		}
		// A free port taken by another test between our probe and the
		// server's bind, or a machine too busy to elect a leader: start
		// again on fresh ports.
		why = err.Error()
		for _, p := range procs {
			p.Kill()
		}
	}
	t.Fatalf("NATS cluster of %d processes not ready after %d attempts: %s", n, natsStartAttempts, why)
	return nil
}

const natsStartAttempts = 3

// startNATSCluster starts n routed nats-server processes and waits until
// JetStream can place a stream with n replicas through each; the error
// carries the log of a server that exited or was not ready.
func startNATSCluster(t testing.TB, bin string, n int) ([]*NATSProcess, error) {
	clusterPorts, clientPorts := ports.FreeN(t, n), ports.FreeN(t, n)
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	procs := make([]*NATSProcess, 0, n)
	for i := range n {
		p, err := startNATSProcess(t, bin, fmt.Sprintf("n%d", i), clientPorts[i],
			"--cluster_name", "streamhub-test", "--cluster", routes[i], "--routes", strings.Join(routes, ","))
		if err != nil {
			return procs, err
		}
		procs = append(procs, p)
	}
	deadline := time.Now().Add(40 * time.Second)
	for _, p := range procs {
		if err := waitJetStream(procs, p, n, deadline); err != nil {
			return procs, err
		}
	}
	return procs, nil
}

// startNATSProcess starts one nats-server with JetStream (its store in a
// temporary directory) on a loopback port, with extra arguments; it is
// killed when the test ends.
func startNATSProcess(t testing.TB, bin, name string, port int, extra ...string) (*NATSProcess, error) {
	log := &lockedBuffer{}
	args := append([]string{"--name", name, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir()}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log // told only when the server does not start
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nats-server %s: %w", name, err)
	}
	p := &NATSProcess{Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.Kill)
	return p, nil
}

// StartNATSProcess runs one nats-server binary bin (not clustered) with
// JetStream on a free loopback port until the test ends, and returns
// once JetStream answers through it.
func StartNATSProcess(t testing.TB, bin string) *NATSProcess {
	t.Helper()
	var why string
	for range natsStartAttempts {
		p, err := startNATSProcess(t, bin, "single", ports.Free(t))
		if err == nil {
			if err = waitJetStream([]*NATSProcess{p}, p, 1, time.Now().Add(40*time.Second)); err == nil {
				return p
			}
			p.Kill()
		}
		why = err.Error() // a port taken meanwhile: try another
	}
	t.Fatalf("nats-server %s not ready after %d attempts: %s", bin, natsStartAttempts, why)
	return nil
}

// DebianNATSServer is the path of the nats-server Debian packages
// (2.9.10 on Debian 12: what `apt install nats-server` gives), or skips
// the test when it is not installed (scripts/test.sh installs it).
func DebianNATSServer(t testing.TB) string {
	t.Helper()
	paths := []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} // where Debian's package puts it
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("Debian's nats-server is not installed (%s): apt-get install nats-server, or run scripts/test.sh", strings.Join(paths, " or "))
	return ""
}

// waitJetStream waits until JetStream through p can place a stream with
// replicas on every server: the server is up and routed, the cluster has
// a meta leader and sees every peer online (until then a stream with n
// replicas is refused: no suitable peers). A server of procs that exits
// ends the wait.
func waitJetStream(procs []*NATSProcess, p *NATSProcess, replicas int, deadline time.Time) error {
	for !jetStreamPlaces(p, replicas) {
		for _, q := range procs {
			if !q.Running() {
				return fmt.Errorf("nats-server %s exited: %s", q.Name, lastLines(q.log.String(), 5))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("JetStream placing a stream through %s: not ready; its log ends: %s", p.Name, lastLines(p.log.String(), 5))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// jetStreamPlaces creates and deletes a stream of replicas through p.
func jetStreamPlaces(p *NATSProcess, replicas int) bool {
	nc, err := nats.Connect(p.URL, nats.Timeout(time.Second))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name := "READY_" + p.Name
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"ready." + p.Name},
		Storage: jetstream.MemoryStorage, Replicas: replicas}); err != nil {
		return false
	}
	return js.DeleteStream(ctx, name) == nil
}

// lastLines is the end of a log, for a failure message.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// lockedBuffer is a process's output, written by its copier goroutine
// and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NATSServerBinary builds nats-server from the module version go.mod
// requires, once per version: later runs (and parallel tests) find it in
// the user's cache directory.
func NATSServerBinary(t testing.TB) string {
	t.Helper()
	version := moduleVersion(t, natsServerModule)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "streamhub-test")
	bin := filepath.Join(dir, "nats-server-"+version)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Built under a name of its own, then renamed: a parallel test never
	// runs a half-written binary.
	tmp, err := os.CreateTemp(dir, "nats-server-build-")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if out, err := exec.Command("go", "build", "-o", tmp.Name(), natsServerModule).CombinedOutput(); err != nil {
		t.Fatalf("build nats-server %s: %v\n%s", version, err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// moduleVersion is the version of module path that go.mod requires (a
// test binary's build information lists no dependencies).
func moduleVersion(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}
