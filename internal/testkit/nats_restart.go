package testkit

import (
	"os/exec"
	"testing"
	"time"
)

// Restart starts a killed server again, with the same name, ports and
// store, and waits until JetStream answers through it.
func (p *NATSProcess) Restart(t testing.TB) {
	t.Helper()
	if p.Running() {
		t.Fatalf("nats-server %s restarted while running", p.Name)
	}
	cmd := exec.Command(p.cmd.Path, p.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nats-server %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	if err := waitJetStream([]*NATSProcess{p}, p, 1, time.Now().Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
}
