package e2e

import (
	"bufio"
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

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// seedProgram copies examples/tcp/NAME into dir with its port replaced.
func seedProgram(t *testing.T, dir, name string, from, to int) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "tcp", name))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.ReplaceAll(string(src), fmt.Sprint(from), fmt.Sprint(to))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// receiver runs the seed's Python receiver and collects what it prints.
type receiver struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

// reuseAddrRunner runs a script unchanged, with SO_REUSEADDR set before
// every bind: a receiver restarted after a crash must bind its port again
// while the crashed connection may still sit in TIME_WAIT, which the seed's
// plain bind would refuse for a minute.
const reuseAddrRunner = `import runpy, socket, sys
_bind = socket.socket.bind
def bind(self, address):
    self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return _bind(self, address)
socket.socket.bind = bind
runpy.run_path(sys.argv[1], run_name="__main__")
`

func startReceiver(t *testing.T, ctx context.Context, script string) *receiver {
	t.Helper()
	r := &receiver{cmd: exec.CommandContext(ctx, python(t), "-u", "-c", reuseAddrRunner, script), done: make(chan struct{})}
	r.cmd.Stderr = testWriter{t}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.out.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { r.cmd.Process.Kill(); <-r.done; r.cmd.Wait() })
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("receiver stderr: %s", p)
	return len(p), nil
}

func (r *receiver) printed() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// TestSeedCSharpToPython runs the seed article's pair unchanged but for the
// ports: the compiled C# sender writes into a --tcp-in port; streamhub dials
// the Python receiver with --tcp-out-dial. The receiver is started after
// streamhub, killed mid-stream and restarted; SSE sees the same messages.
func TestSeedCSharpToPython(t *testing.T) {
	mcs, err := exec.LookPath("mcs")
	if err != nil {
		t.Skip("mcs not on PATH: scripts/test.sh installs mono-mcs and mono-runtime")
	}
	python(t)
	dir := t.TempDir()
	inPort, recvPort := testkit.FreePort(t), testkit.FreePort(t)
	sender := seedProgram(t, dir, "sender.cs", 9999, inPort)
	recvScript := seedProgram(t, dir, "receiver.py", 9997, recvPort)
	exe := filepath.Join(dir, "sender.exe")
	if out, err := exec.Command(mcs, "-out:"+exe, sender).CombinedOutput(); err != nil {
		t.Fatalf("mcs: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()

	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.In = []string{fmt.Sprintf("127.0.0.1:%d=sensors/line", inPort)}
		c.TCP.Outdial = []string{fmt.Sprintf("127.0.0.1:%d=sensors/#", recvPort)}
		c.TCP.Dialqueue = 5
		c.TCP.Backoff = 300 * time.Millisecond
	})
	sse := &collector{}
	sseSubscriber().start(ctx, t, s, "sensors/#", sse)
	connected := func(want string) func() bool {
		return func() bool {
			return strings.Contains(scrape(t, s.URL),
				fmt.Sprintf(`streamhub_tcp_dial_connected{addr="127.0.0.1:%d",direction="out"} %s`, recvPort, want))
		}
	}
	// The receiver starts after streamhub, which has been retrying.
	time.Sleep(500 * time.Millisecond)
	rcv := startReceiver(t, ctx, recvScript)
	testkit.Eventually(t, 20*time.Second, "streamhub to reach the receiver", connected("1"))

	if out, err := exec.CommandContext(ctx, "mono", exe).CombinedOutput(); err != nil {
		t.Fatalf("mono sender.exe: %v\n%s", err, out)
	}
	testkit.Eventually(t, 10*time.Second, "the receiver to print the line", func() bool {
		return strings.Contains(rcv.printed(), "Received data: Hello, Python!")
	})
	testkit.Eventually(t, 10*time.Second, "SSE to see the line", func() bool {
		got, _ := sse.snapshot()
		return len(got) == 1 && string(got[0].payload) == "Hello, Python!"
	})

	// Kill the receiver mid-stream, with a message in its socket buffer that
	// it never reads: that is what a crash loses. With a queue of 5, 3 of the
	// 8 messages published while it is away are dropped, and counted.
	rcv.cmd.Process.Signal(syscall.SIGSTOP)
	httpPublish(t, s.URL, "sensors/seq", []byte("lost in the crash"), "")
	testkit.Eventually(t, 10*time.Second, "the message to be written to the stopped receiver", func() bool {
		return strings.Contains(scrape(t, s.URL), `streamhub_messages_out_total{transport="tcp-out-dial"} 2`)
	})
	time.Sleep(50 * time.Millisecond) // loopback delivery into its buffer
	rcv.cmd.Process.Signal(syscall.SIGKILL)
	testkit.Eventually(t, 10*time.Second, "streamhub to notice the receiver left", connected("0"))
	for i := 1; i <= 8; i++ {
		httpPublish(t, s.URL, "sensors/seq", []byte(fmt.Sprintf("m%d", i)), "")
	}
	if m := scrape(t, s.URL); !strings.Contains(m, `streamhub_messages_dropped_total{transport="tcp-out-dial"} 3`) {
		t.Fatalf("dropped count wrong:\n%s", grep(m, "dropped"))
	}
	rcv2 := startReceiver(t, ctx, recvScript)
	testkit.Eventually(t, 20*time.Second, "streamhub to reach the restarted receiver", connected("1"))
	httpPublish(t, s.URL, "sensors/seq", []byte("m9"), "")
	testkit.Eventually(t, 10*time.Second, "the restarted receiver to get m4..m9", func() bool {
		return strings.Contains(rcv2.printed(), "m9")
	})
	printed := rcv2.printed()
	for i := 1; i <= 9; i++ {
		has := strings.Contains(printed, fmt.Sprintf("m%d\n", i)) || strings.Contains(printed, fmt.Sprintf("m%d", i))
		if (i >= 4) != has {
			t.Errorf("m%d printed=%v after restart; receiver printed:\n%s", i, has, printed)
		}
	}
	if strings.Index(printed, "m4") > strings.Index(printed, "m9") {
		t.Errorf("order lost: %s", printed)
	}
}
