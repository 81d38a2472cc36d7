package testkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	clusterPorts, clientPorts := freePorts(t, n), freePorts(t, n)
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	procs := make([]*NATSProcess, n)
	for i := range procs {
		name := fmt.Sprintf("n%d", i)
		cmd := exec.Command(bin, "--name", name, "-a", "127.0.0.1", "-p", fmt.Sprint(clientPorts[i]),
			"-js", "-sd", t.TempDir(), "--cluster_name", "streamhub-test",
			"--cluster", routes[i], "--routes", strings.Join(routes, ","))
		cmd.Stdout, cmd.Stderr = nil, nil // its log is not needed; the test's checks tell what failed
		if err := cmd.Start(); err != nil {
			t.Fatalf("start nats-server %s: %v", name, err)
		}
		p := &NATSProcess{Name: name, URL: fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]), cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		t.Cleanup(p.Kill)
		procs[i] = p
	}
	for _, p := range procs {
		waitJetStream(t, p, n)
	}
	return procs
}

// waitJetStream waits until JetStream through p can place a stream with
// replicas on every server: the server is up and routed, the cluster has
// a meta leader and sees every peer online (until then a stream with n
// replicas is refused: no suitable peers).
func waitJetStream(t testing.TB, p *NATSProcess, replicas int) {
	t.Helper()
	Eventually(t, 60*time.Second, "JetStream placing a stream through "+p.Name, func() bool {
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
	})
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
