package testkit

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// StartNATSProcess runs one nats-server process with JetStream, not
// clustered, on a free loopback port with its store in a temporary
// directory, until the test ends (or Kill; Restart starts it again).
func StartNATSProcess(t testing.TB) *NATSProcess {
	t.Helper()
	port := FreePort(t)
	p := &NATSProcess{Name: "n0", URL: fmt.Sprintf("nats://127.0.0.1:%d", port), log: &lockedBuffer{},
		cmd: exec.Command(NATSServerBinary(t), "--name", "n0", "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())}
	p.run(t)
	t.Cleanup(p.Kill)
	return p
}

// Restart starts a killed server again, with the same name, ports and
// store, and waits until JetStream answers through it.
func (p *NATSProcess) Restart(t testing.TB) {
	t.Helper()
	if p.Running() {
		t.Fatalf("nats-server %s restarted while running", p.Name)
	}
	p.cmd = exec.Command(p.cmd.Path, p.cmd.Args[1:]...)
	p.run(t)
}

// run starts p.cmd and waits until JetStream can place a stream through it.
func (p *NATSProcess) run(t testing.TB) {
	t.Helper()
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start nats-server %s: %v", p.Name, err)
	}
	cmd, done := p.cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.done = done
	if err := waitJetStream([]*NATSProcess{p}, p, 1, time.Now().Add(40*time.Second)); err != nil {
		t.Fatal(err)
	}
}
