package e2e

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"streamhub/internal/testkit"
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
