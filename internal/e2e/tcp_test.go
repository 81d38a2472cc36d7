package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

func python(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not on PATH: scripts/test.sh installs it")
	}
	return p
}

// peer runs testdata/tcppeer.py; wait returns its combined output.
func peer(t *testing.T, ctx context.Context, args ...string) (wait func() string, started *bufio.Reader) {
	t.Helper()
	cmd := exec.CommandContext(ctx, python(t), append([]string{"-u", "testdata/tcppeer.py"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	return func() string {
		var rest bytes.Buffer
		rest.ReadFrom(r)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tcppeer %v: %v\n%s%s", args, err, rest.String(), stderr.String())
		}
		return rest.String()
	}, r
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRawPortsWithPython streams through listening ports of each framing
// with python3 standard-library sockets on both ends, and across to SSE.
func TestRawPortsWithPython(t *testing.T) {
	t.Parallel()
	python(t)
	linesIn, linesOut := testkit.FreePort(t), testkit.FreePort(t)
	rawIn, rawOut := testkit.FreePort(t), testkit.FreePort(t)
	lenIn, lenOut := testkit.FreePort(t), testkit.FreePort(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.In = []string{
			fmt.Sprintf("127.0.0.1:%d=raw/lines", linesIn),
			fmt.Sprintf("127.0.0.1:%d=raw/bin?framing=raw", rawIn),
			fmt.Sprintf("127.0.0.1:%d=raw/len?framing=length", lenIn),
		}
		c.TCP.Out = []string{
			fmt.Sprintf("127.0.0.1:%d=raw/lines", linesOut),
			fmt.Sprintf("127.0.0.1:%d=raw/bin?framing=raw", rawOut),
			fmt.Sprintf("127.0.0.1:%d=raw/len?framing=length", lenOut),
		}
		c.Queue.Messages = 1 << 16
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	t.Run("lines", func(t *testing.T) {
		sse := &collector{}
		sseSubscriber().start(ctx, t, s, "raw/lines", sse)
		var in, want bytes.Buffer
		for i := range 100 {
			ending := "\n"
			if i%2 == 1 {
				ending = "\r\n"
			}
			fmt.Fprintf(&in, "line %d%s", i, ending)
			fmt.Fprintf(&want, "line %d\n", i)
		}
		out := filepath.Join(t.TempDir(), "out")
		wait, r := peer(t, ctx, "recv", fmt.Sprint(linesOut), fmt.Sprint(want.Len()), out)
		r.ReadString('\n')
		s.WaitFilters(t, 2)
		peer(t, ctx, "send", fmt.Sprint(linesIn), writeTemp(t, in.Bytes()))
		wait()
		got, _ := os.ReadFile(out)
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("tcp-out got %q", got)
		}
		testkit.Eventually(t, 10*time.Second, "SSE lines", func() bool { g, _ := sse.snapshot(); return len(g) >= 100 })
		msgs, _ := sse.snapshot()
		for i, m := range msgs {
			if string(m.payload) != fmt.Sprintf("line %d", i) {
				t.Fatalf("SSE message %d is %q", i, m.payload)
			}
		}
	})

	mib := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range mib {
		mib[i] = byte(rng.Uint32())
	}
	t.Run("raw-1MiB", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		wait, r := peer(t, ctx, "recv", fmt.Sprint(rawOut), fmt.Sprint(len(mib)), out)
		r.ReadString('\n')
		s.WaitFilters(t, 1)
		peer(t, ctx, "send", fmt.Sprint(rawIn), writeTemp(t, mib))
		wait()
		if got, _ := os.ReadFile(out); !bytes.Equal(got, mib) {
			t.Fatalf("raw stream differs: got %d bytes", len(got))
		}
	})
	t.Run("length-1MiB", func(t *testing.T) {
		framed := binary.BigEndian.AppendUint32(nil, uint32(len(mib)))
		framed = append(framed, mib...)
		out := filepath.Join(t.TempDir(), "out")
		wait, r := peer(t, ctx, "recv", fmt.Sprint(lenOut), fmt.Sprint(len(framed)), out)
		r.ReadString('\n')
		s.WaitFilters(t, 1)
		peer(t, ctx, "send", fmt.Sprint(lenIn), writeTemp(t, framed))
		wait()
		if got, _ := os.ReadFile(out); !bytes.Equal(got, framed) {
			t.Fatalf("length-prefixed stream differs: got %d bytes", len(got))
		}
	})
}

// TestTextProtocolWithPython: a python3 client speaks the text protocol,
// its publishes reach SSE and an HTTP publish reaches it.
func TestTextProtocolWithPython(t *testing.T) {
	t.Parallel()
	python(t)
	s := testkit.Start(t, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sse := &collector{}
	sseSubscriber().start(ctx, t, s, "text/+", sse)
	s.WaitFilters(t, 1)
	_, port, _ := net.SplitHostPort(s.TCP().TextAddr().String())
	wait, r := peer(t, ctx, "text", port)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("text session: %q %v %s", line, err, wait())
	}
	httpPublish(t, s.URL, "text/from-http", []byte("from http"), "")
	if out := wait(); out != "from http\n" {
		t.Fatalf("text client printed %q", out)
	}
	got, _ := sse.snapshot()
	if len(got) < 2 || string(got[0].payload) != "hello" || len(got[1].payload) != 256 {
		t.Fatalf("SSE got %v", got)
	}
}

// TestTCPInDial: streamhub dials a python3 program that listens and sends.
func TestTCPInDial(t *testing.T) {
	t.Parallel()
	port := testkit.FreePort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	wait, r := peer(t, ctx, "listen-send", fmt.Sprint(port), writeTemp(t, []byte("one\r\ntwo\nthree")))
	r.ReadString('\n')
	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.Indial = []string{fmt.Sprintf("127.0.0.1:%d=dialled/in", port)}
	})
	nd := &collector{}
	ndjsonSubscriber().start(ctx, t, s, "dialled/in", nd)
	s.WaitFilters(t, 1)
	wait()
	// Read from history: the subscriber may have joined after the sender
	// finished, and the last line (without a line ending) is framed only
	// when the sender closes.
	var got []string
	testkit.Eventually(t, 10*time.Second, "three lines", func() bool {
		a, err := poll(ctx, s.URL, "dialled/in", fmt.Sprintf("%s-0", s.Hub().Epoch()), "0")
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, e := range a.Messages {
			got = append(got, e.Payload)
		}
		return len(got) >= 3
	})
	if strings.Join(got, "|") != "one|two|three" {
		t.Fatalf("dialled input gave %q", got)
	}
}

// TestTCPBadInput: an over-long line is refused with an error line and the
// stream goes on; an oversized length frame closes that connection only; an
// unknown text command gets -ERR and the session continues.
func TestTCPBadInput(t *testing.T) {
	t.Parallel()
	linesIn, lenIn := testkit.FreePort(t), testkit.FreePort(t)
	s := testkit.Start(t, func(c *config.Config) {
		c.TCP.Addr = "127.0.0.1:0"
		c.TCP.In = []string{fmt.Sprintf("127.0.0.1:%d=bad/lines?max=10", linesIn),
			fmt.Sprintf("127.0.0.1:%d=bad/len?framing=length&max=10", lenIn)}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	nd := &collector{}
	ndjsonSubscriber().start(ctx, t, s, "bad/+", nd)
	s.WaitFilters(t, 1)

	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", linesIn))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "ok1\n%s\nok2\n", strings.Repeat("x", 50))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "-ERR line_too_long") {
		t.Fatalf("got %q %v", line, err)
	}
	l, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lenIn))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Write([]byte{0, 0, 1, 0, 'x'})
	reply, _ := bufio.NewReader(l).ReadString('\n')
	if !strings.HasPrefix(reply, "-ERR frame_too_large") {
		t.Fatalf("oversized frame answered %q", reply)
	}
	if _, err := l.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection with an unframeable stream left open")
	}
	fmt.Fprintf(c, "ok3\n")
	testkit.Eventually(t, 10*time.Second, "good lines", func() bool { g, _ := nd.snapshot(); return len(g) >= 3 })
	got, _ := nd.snapshot()
	if len(got) != 3 || string(got[0].payload) != "ok1" || string(got[2].payload) != "ok3" {
		t.Fatalf("got %v", got)
	}

	tc, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tr := bufio.NewReader(tc)
	for _, step := range []struct{ send, want string }{
		{"HELLO\n", "-ERR unknown_command"},
		{"PUB a/# 1\nx\n", "-ERR invalid_topic"},
		{"SUB a/#/b\n", "-ERR invalid_topic"},
		{"PING\n", "PONG"},
		{"PUB a 99\n" + strings.Repeat("y", 99) + "\n", "+OK"},
		{"PUB a 2\nabc\n", "-ERR framing"},
	} {
		tc.Write([]byte(step.send))
		line, err := tr.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, step.want) {
			t.Fatalf("%q: got %q %v, want %s", step.send, line, err, step.want)
		}
	}
	if _, err := tr.ReadString('\n'); err == nil {
		t.Fatal("text connection left open after a framing error")
	}
}

// TestTextCursorsResume: after CURSORS each MSG carries its cursor, and a
// client that reconnects with SUB ... FROM the last one it read gets
// exactly the messages after it.
func TestTextCursorsResume(t *testing.T) {
	t.Parallel()
	testkit.EachEngine(t, textCursorsResume, testkit.Memory, testkit.Pebble, testkit.JetStream)
}

func textCursorsResume(t *testing.T, e testkit.Engine) {
	s := testkit.StartOn(t, e, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	addr := s.TCP().TextAddr().String()
	first := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	textSubscriber(ctx, t, addr, "resume/#", "", first)
	s.WaitFilters(t, 1)
	for _, p := range []string{"a", "b"} {
		httpPublish(t, s.URL, "resume/x", []byte(p), "")
	}
	testkit.Eventually(t, 10*time.Second, "two messages with cursors", func() bool {
		got, _ := first.snapshot()
		return len(got) == 2
	})
	cancel()
	seen, _ := first.snapshot()
	if seen[0].cursor == "" || seen[1].cursor == "" || seen[0].cursor == seen[1].cursor {
		t.Fatalf("MSG frames without distinct cursors: %+v", seen)
	}
	for _, p := range []string{"c", "d"} {
		httpPublish(t, s.URL, "resume/x", []byte(p), "")
	}
	again := &collector{}
	textSubscriber(t.Context(), t, addr, "resume/#", seen[1].cursor, again)
	testkit.Eventually(t, 10*time.Second, "the two messages after the cursor", func() bool {
		got, _ := again.snapshot()
		return len(got) >= 2
	})
	time.Sleep(100 * time.Millisecond) // a duplicate would arrive right behind
	got, _ := again.snapshot()
	if len(got) != 2 || string(got[0].payload) != "c" || string(got[1].payload) != "d" {
		t.Fatalf("resumed with %+v", got)
	}
}
