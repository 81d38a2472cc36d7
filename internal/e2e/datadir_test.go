package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDataDirectoryLocked: a second server on the same data directory
// says the directory is in use and by which process (issue 14 item 18);
// the lock of a killed server does not block the next one.
func TestDataDirectoryLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startBinary(t, dir).cmd

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, cliPath, serveArgs(dir)...)
	var stderr bytes.Buffer
	second.Stderr = &stderr
	if err := second.Run(); err == nil {
		t.Fatal("a second server started on a data directory in use")
	}
	want := fmt.Sprintf("is in use by another streamhub process (pid %d)", first.Process.Pid)
	if said := stderr.String(); !strings.Contains(said, want) || !strings.Contains(said, "data directory "+dir) {
		t.Errorf("second server said %q, want the directory and %q", said, want)
	}

	// A killed server leaves its lock file behind; it blocks nobody.
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	startBinary(t, dir)
}
