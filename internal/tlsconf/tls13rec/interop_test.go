package tls13rec

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ended is what a switched connection's handler saw: its secrets at the
// start and the end, and how its input ended.
type ended struct {
	in0, out0, in1, out1 [maxSecret]byte
	suite                uint16
	err                  error
}

// echoLines serves a switched connection: it echoes until the client's
// close_notify (io.Copy's nil) and reports what it saw.
func echoLines(done chan<- ended) func(t *testing.T, c *Conn) {
	return func(t *testing.T, c *Conn) {
		var e ended
		if e.err = c.Handshake(); e.err != nil || !c.Switched() {
			if e.err == nil {
				e.err = fmt.Errorf("not switched")
			}
			done <- e
			return
		}
		e.in0, e.out0, e.suite = c.in.secret, c.out.secret, c.suite.get().id
		_, e.err = io.Copy(c, c)
		c.in.mu.Lock()
		c.out.mu.Lock()
		e.in1, e.out1 = c.in.secret, c.out.secret
		c.out.mu.Unlock()
		c.in.mu.Unlock()
		done <- e
	}
}

// lineReader waits for lines of a peer's output.
type lineReader struct {
	t  *testing.T
	sc *bufio.Scanner
}

func (r lineReader) expect(want string) {
	r.t.Helper()
	for r.sc.Scan() {
		if strings.TrimSpace(r.sc.Text()) == want {
			return
		}
	}
	r.t.Fatalf("no line %q in the peer's output (%v)", want, r.sc.Err())
}

// TestOpenSSLClient: OpenSSL's s_client with each TLS 1.3 suite: data
// both ways, a KeyUpdate that requests ours (K) and one that does not
// (k), then close_notify.
func TestOpenSSLClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	for _, suite := range []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"} {
		for _, cmd := range []string{"K", "k"} {
			t.Run(suite+"/"+cmd, func(t *testing.T) {
				t.Parallel()
				done := make(chan ended, 1)
				addr, _, certFile := serve(t, echoLines(done))
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				sc := exec.CommandContext(ctx, "openssl", "s_client", "-connect", addr, "-tls1_3",
					"-ciphersuites", suite, "-CAfile", certFile, "-verify_return_error", "-brief")
				stdin, err := sc.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				stdout, err := sc.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				stderr, err := sc.StderrPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := sc.Start(); err != nil {
					t.Fatal(err)
				}
				lines := lineReader{t, bufio.NewScanner(stdout)}
				notes := lineReader{t, bufio.NewScanner(stderr)}
				io.WriteString(stdin, "before\n")
				lines.expect("before")
				// s_client takes a whole read of its input as the command:
				// the next line only once it said it sent the KeyUpdate.
				io.WriteString(stdin, cmd+"\n")
				notes.expect("KEYUPDATE")
				io.WriteString(stdin, "after\n")
				lines.expect("after")
				stdin.Close() // s_client sends close_notify and goes
				io.Copy(io.Discard, stdout)
				rest, _ := io.ReadAll(stderr)
				if err := sc.Wait(); err != nil {
					t.Fatalf("s_client: %v\n%s", err, rest)
				}
				e := <-done
				if e.err != nil {
					t.Fatalf("server: %v", e.err)
				}
				if want := suiteByName(suite); e.suite != want {
					t.Fatalf("suite %x, want %x", e.suite, want)
				}
				if e.in0 == e.in1 {
					t.Fatal("the read key did not change")
				}
				if changed := e.out0 != e.out1; changed != (cmd == "K") {
					t.Fatalf("write key changed: %v after %s", changed, cmd)
				}
			})
		}
	}
}

func suiteByName(name string) uint16 {
	for _, s := range tls.CipherSuites() {
		if s.Name == name {
			return s.ID
		}
	}
	return 0
}

// TestPythonClient: Python's ssl module (OpenSSL underneath, its own
// reads and writes) exchanges a large message and closes with unwrap
// (close_notify).
func TestPythonClient(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	done := make(chan ended, 1)
	addr, _, certFile := serve(t, echoLines(done))
	host, port, _ := strings.Cut(addr, ":")
	script := `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30) as raw:
    s = ctx.wrap_socket(raw, server_hostname=sys.argv[1])
    msg = bytes(i % 251 for i in range(300000))
    s.sendall(msg)
    got = b''
    while len(got) < len(msg):
        b = s.recv(65536)
        if not b:
            break
        got += b
    assert got == msg, (len(got), len(msg))
    s = s.unwrap()
print(s.version() if hasattr(s, 'version') else 'ok')
`
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", script, host, port, certFile).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	if e := <-done; e.err != nil {
		t.Fatalf("server: %v", e.err)
	}
}
