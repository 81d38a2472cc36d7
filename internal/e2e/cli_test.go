package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/testkit"
	"streamhub/internal/testkit/ports"
)

// TestCLIPipeAndRawSub: `tail -f app.log | streamhub pub logs/app` in
// miniature, read back by `streamhub sub` printing raw payloads.
func TestCLIPipeAndRawSub(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sub := exec.CommandContext(ctx, cliPath, "sub", "--server", s.URL, "--count", "4", "logs/#")
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	s.WaitFilters(t, 1)
	pub := exec.CommandContext(ctx, cliPath, "pub", "--server", s.URL, "logs/app")
	pub.Stdin = strings.NewReader("first line\nsecond, CRLF\r\n\nlast without newline")
	if b, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("pub: %v %s", err, b)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("sub: %v", err)
	}
	want := []string{"first line", "second, CRLF", "", "last without newline"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("sub printed %q, want %q", lines, want)
	}
}

// runCLI runs the streamhub binary and returns its exit error and output.
func runCLI(t *testing.T, ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, cliPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// TestCLIPubStopsOnSignal: `streamhub pub TOPIC` reading a terminal (here a
// pipe nobody closes) stops on SIGINT, having sent the lines it read
// (issue 14 item 17: it ignored Ctrl-C).
func TestCLIPubStopsOnSignal(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=tty/in", "application/x-ndjson")
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	pub := exec.Command(cliPath, "pub", "--server", s.URL, "tty/in")
	stdin, err := pub.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	defer pub.Process.Kill()
	stdin.Write([]byte("typed\n"))
	for lines.Scan() && !strings.Contains(lines.Text(), `"payload":"typed"`) {
	}
	pub.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- pub.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pub exited with %v after SIGINT", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pub ignored SIGINT while reading its input")
	}
}

// TestCLIErrorsSayWhatToDo: wrong invocations of pub and sub fail with a
// message that says what went wrong and how to fix it (issue 14 item 17).
func TestCLIErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	deadURL := "http://" + ports.Refused(t)
	cases := []struct {
		name   string
		args   []string
		want   []string // in stderr
		within time.Duration
	}{
		{"missing input file", []string{"pub", "--server", s.URL, "-f", "/nonexistent/payload", "t"},
			[]string{"/nonexistent/payload", "no such file"}, 10 * time.Second},
		{"unquoted message", []string{"pub", "--server", s.URL, "t", "hello", "big", "world"},
			[]string{"did you mean to quote the message?", `'hello big world'`}, 10 * time.Second},
		{"dead server", []string{"sub", "--server", deadURL, "--retry-for", "1s", "t"},
			[]string{deadURL, "connection refused", "retrying", "giving up after 1s"}, 10 * time.Second},
		{"unknown scheme", []string{"sub", "--server", "gopher://h:1", "t"},
			[]string{"gopher://h:1", "http://", "mqtt://", "ws://"}, 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), tc.within)
			defer cancel()
			_, stderr, err := runCLI(t, ctx, "", tc.args...)
			if ctx.Err() != nil {
				t.Fatalf("still running after %s; stderr %q", tc.within, stderr)
			}
			if err == nil {
				t.Errorf("exited 0; stderr %q", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
		})
	}
}

// TestCLIVersionAndHelp: --version prints a version; the root help names
// every protocol the server speaks.
func TestCLIVersionAndHelp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	out, _, err := runCLI(t, ctx, "", "--version")
	if err != nil || !strings.HasPrefix(out, "streamhub version ") {
		t.Errorf("--version: %v %q", err, out)
	}
	out, _, err = runCLI(t, ctx, "", "--help")
	var missing []string
	for _, p := range []string{"MQTT 3.1.1", "MQTT 5", "WebSocket", "Server-Sent Events", "NDJSON", "long polling",
		"raw TCP", "TCP text protocol", "TLS", "HTTP"} {
		if !strings.Contains(out, p) {
			missing = append(missing, p)
		}
	}
	if err != nil || len(missing) > 0 {
		t.Errorf("root help does not name %q: %v\n%s", missing, err, out)
	}
}

// TestCLIOverMQTTAndWebSocket: pub and sub take mqtt:// and ws:// server
// URLs as well as http://, and each reads what the others publish.
func TestCLIOverMQTTAndWebSocket(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	urls := map[string]string{
		"http": s.URL,
		"mqtt": "mqtt://" + s.MQTT().Addr("mqtt").String(),
		"ws":   s.WSURL,
	}
	for _, subScheme := range []string{"http", "mqtt", "ws"} {
		t.Run("sub over "+subScheme, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			topic := "cli/" + subScheme
			sub := exec.CommandContext(ctx, cliPath, "sub", "--server", urls[subScheme], "--count", "3", topic)
			var out, stderr strings.Builder
			sub.Stdout, sub.Stderr = &out, &stderr
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			s.WaitSubscribers(t, topic, 1)
			for _, pubScheme := range []string{"http", "mqtt", "ws"} {
				if _, stderr, err := runCLI(t, ctx, "", "pub", "--server", urls[pubScheme], topic, "via "+pubScheme); err != nil {
					t.Fatalf("pub over %s: %v %s", pubScheme, err, stderr)
				}
			}
			if err := sub.Wait(); err != nil {
				t.Fatalf("sub over %s: %v %s", subScheme, err, stderr.String())
			}
			if got := strings.Fields(strings.ReplaceAll(out.String(), "via ", "")); strings.Join(got, " ") != "http mqtt ws" {
				t.Errorf("sub over %s printed %q", subScheme, out.String())
			}
		})
	}
}
