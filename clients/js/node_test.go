package jsclient

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestNodeSuite runs streamhub.js's own tests (node's built-in runner,
// clients/js/test/) so that CI runs them with the Go tests. It also checks
// that streamhub.umd.js was regenerated after streamhub.js changed.
func TestNodeSuite(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH: scripts/test.sh installs nodejs")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "test/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test test/: %v\n%s", err, out)
	}
}

// TestEmbedded: the server serves what is here, the UMD build included.
func TestEmbedded(t *testing.T) {
	for name, b := range map[string][]byte{"streamhub.js": Module, "streamhub.umd.js": Classic, "streamhub.d.ts": Types} {
		if len(b) == 0 {
			t.Errorf("%s is empty", name)
		}
	}
}
