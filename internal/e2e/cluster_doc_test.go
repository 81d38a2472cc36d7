package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

// TestClusterDocCommands runs docs/CLUSTER.md's commands for one machine
// as written (before, nats-server refused them: "jetstream cluster
// requires server_name"), with each port moved to a free one and each
// store directory to a temporary one: three nats-servers, then two nodes
// once those are ready, then curl subscribing on b and publishing on a;
// on Debian's nats-server and on the module's.
func TestClusterDocCommands(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/CLUSTER.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(doc), "To try it on one machine", 3)
	for _, v := range []struct {
		name string
		bin  func(testing.TB) string
	}{{"debian", testkit.DebianNATSServer}, {"module", testkit.NATSServerBinary}} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			r := &docRun{t: t, programs: map[string]string{"nats-server": v.bin(t), "streamhub": cliPath, "curl": "curl"},
				ports: map[string]string{}, dir: t.TempDir()}
			for _, cmd := range blocks[0] {
				r.start(cmd).waitFor("Server is ready")
			}
			for _, cmd := range blocks[1] {
				r.start(cmd).waitFor("transport=http")
			}
			sub := r.start(blocks[2][0])
			testkit.Eventually(t, 10*time.Second, "the SSE stream open on b", func() bool { return strings.Contains(sub.output(), "retry:") })
			if out, err := r.command(blocks[2][1]).CombinedOutput(); err != nil || !strings.Contains(string(out), `"cursor"`) {
				t.Fatalf("publish on a: %v %s", err, out)
			}
			sub.waitFor("data: hello")
		})
	}
}

// shellBlocks returns the commands of the n ```sh blocks that follow
// marker in doc: continued lines joined, comments and a final & dropped.
func shellBlocks(doc, marker string, n int) [][]string {
	rest := doc[strings.Index(doc, marker):]
	var out [][]string
	for range n {
		start := strings.Index(rest, "```sh\n") + len("```sh\n")
		end := start + strings.Index(rest[start:], "```")
		text := strings.ReplaceAll(rest[start:end], "\\\n", " ")
		var cmds []string
		for line := range strings.Lines(text) {
			line, _, _ = strings.Cut(line, "  #")
			if line = strings.TrimSuffix(strings.TrimSpace(line), "&"); strings.TrimSpace(line) != "" {
				cmds = append(cmds, line)
			}
		}
		out = append(out, cmds)
		rest = rest[end+3:]
	}
	return out
}

// docRun runs a document's commands with its own programs, ports and
// directories.
type docRun struct {
	t        *testing.T
	programs map[string]string
	ports    map[string]string // the document's port: a free one
	dir      string
}

var (
	docPort   = regexp.MustCompile(`(127\.0\.0\.1:|-p )(\d+)`)
	docTmpDir = regexp.MustCompile(`/tmp/([\w.-]+)`)
)

// command is cmd (shell words, single quotes) with the run's ports,
// directories and programs.
func (r *docRun) command(cmd string) *exec.Cmd {
	cmd = docPort.ReplaceAllStringFunc(cmd, func(m string) string {
		sub := docPort.FindStringSubmatch(m)
		if _, ok := r.ports[sub[2]]; !ok {
			r.ports[sub[2]] = strconv.Itoa(testkit.FreePort(r.t))
		}
		return sub[1] + r.ports[sub[2]]
	})
	cmd = docTmpDir.ReplaceAllString(cmd, filepath.Join(r.dir, "$1"))
	words := shellWords(cmd)
	prog, ok := r.programs[words[0]]
	if !ok {
		r.t.Fatalf("unknown program in %q", cmd)
	}
	return exec.Command(prog, words[1:]...)
}

// start runs cmd until the test ends, keeping its output.
func (r *docRun) start(cmd string) *docProcess {
	c := r.command(cmd)
	p := &docProcess{t: r.t, cmd: cmd, done: make(chan struct{})}
	out, err := c.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	c.Stderr = c.Stdout
	if err := c.Start(); err != nil {
		r.t.Fatalf("%s: %v", cmd, err)
	}
	go func() {
		p.copy(out)
		_ = c.Wait()
		close(p.done)
	}()
	r.t.Cleanup(func() { _ = c.Process.Kill(); <-p.done })
	return p
}

// docProcess is a running command and what it printed.
type docProcess struct {
	t    *testing.T
	cmd  string
	done chan struct{} // closed when it exited
	mu   sync.Mutex
	out  strings.Builder
}

func (p *docProcess) copy(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		p.mu.Lock()
		p.out.WriteString(sc.Text() + "\n")
		p.mu.Unlock()
	}
}

func (p *docProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits until the command printed text; it fails once the
// command exited without.
func (p *docProcess) waitFor(text string) *docProcess {
	p.t.Helper()
	testkit.Eventually(p.t, 60*time.Second, p.cmd+" printing "+text, func() bool {
		exited := false
		select {
		case <-p.done: // its output is complete
			exited = true
		default:
		}
		if strings.Contains(p.output(), text) {
			return true
		}
		if exited {
			p.t.Fatalf("%s exited without printing %q:\n%s", p.cmd, text, p.output())
		}
		return false
	})
	return p
}

// shellWords splits a command line at spaces, keeping single-quoted
// words (possibly empty) whole.
func shellWords(line string) []string {
	var words []string
	var word strings.Builder
	inWord, quoted := false, false
	for _, c := range line {
		switch {
		case c == '\'':
			quoted, inWord = !quoted, true
		case c == ' ' && !quoted:
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}
