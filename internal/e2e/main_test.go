// Package e2e holds end-to-end tests: real servers on free ports, real
// clients (HTTP, WebSocket, the streamhub CLI binary, headless Chromium).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cliPath is the streamhub binary built for this test run.
var cliPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "streamhub-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cliPath = filepath.Join(dir, "streamhub")
	if out, err := exec.Command("go", "build", "-o", cliPath, "streamhub/cmd/streamhub").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build streamhub: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
