package tlsconf_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"streamhub/internal/testkit"
	"streamhub/internal/tlsconf"
)

// The idle-connection measurement (docs/IDLE.md, "TLS memory") found no
// setting here that makes an idle crypto/tls connection smaller without
// weakening it: the read buffers follow the client's ClientHello, the cipher
// state the suite Go picks for TLS 1.3 (not configurable), and disabling
// session tickets keeps nothing less. This test keeps the settings from
// being traded for memory: TLS 1.2 at least, Go's cipher suites and key
// exchanges (X25519MLKEM768 first), session tickets on.
func TestConfigKeepsGoDefaults(t *testing.T) {
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	cfg, err := tlsconf.Config(certFile, keyFile, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.CipherSuites != nil || cfg.CurvePreferences != nil || cfg.SessionTicketsDisabled {
		t.Fatalf("config: MinVersion %#x CipherSuites %v CurvePreferences %v SessionTicketsDisabled %v; want TLS 1.2 and Go's defaults",
			cfg.MinVersion, cfg.CipherSuites, cfg.CurvePreferences, cfg.SessionTicketsDisabled)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tc.Handshake()
			}()
		}
	}()
	dial := func(client *tls.Config) (tls.ConnectionState, error) {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		tc := tls.Client(c, client)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		err = tc.Handshake()
		return tc.ConnectionState(), err
	}

	st, err := dial(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != tls.VersionTLS13 || st.CurveID != tls.X25519MLKEM768 {
		t.Errorf("default client: %s with %v; want TLS 1.3 with X25519MLKEM768", tls.VersionName(st.Version), st.CurveID)
	}
	_, err = dial(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 client: %v; want the server's protocol_version alert", err)
	}
}

// readBufCaps returns the capacities of crypto/tls's private rawInput and
// hand buffers (test only: they are what Server exists to keep small).
func readBufCaps(t *testing.T, tc *tls.Conn) (rawInput, hand int) {
	field := func(name string) *bytes.Buffer {
		f, ok := reflect.TypeFor[tls.Conn]().FieldByName(name)
		if !ok || f.Type != reflect.TypeFor[bytes.Buffer]() {
			t.Skipf("tls.Conn has no bytes.Buffer %s in this Go version", name)
		}
		return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(tc), f.Offset))
	}
	return field("rawInput").Cap(), field("hand").Cap()
}

// A real Go client completes the handshake and exchanges data through
// NewListener, and crypto/tls's record buffer stays at its first 576 B
// even for the 1.2 KB+ ClientHello of X25519MLKEM768, its handshake buffer
// no larger than without the cut.
func TestNewListenerCutsClientHello(t *testing.T) {
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	cfg, err := tlsconf.Config(certFile, keyFile, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	clients := []struct {
		name string
		cfg  *tls.Config
	}{
		{"default (X25519MLKEM768)", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}},
		{"X25519 only", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", CurvePreferences: []tls.CurveID{tls.X25519}}},
		{"TLS 1.2", &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS12}},
	}
	for _, cl := range clients {
		rawCut, handCut, st := echoOnce(t, tlsconf.NewListener, cfg, cl.cfg)
		rawStd, handStd, _ := echoOnce(t, tls.NewListener, cfg, cl.cfg)
		t.Logf("%s (%s): rawInput %d (uncut %d), hand %d (uncut %d)", cl.name, tls.VersionName(st.Version), rawCut, rawStd, handCut, handStd)
		if rawCut > 576 || handCut > max(handStd, 256) {
			t.Errorf("%s: rawInput %d, hand %d; want at most 576 and %d", cl.name, rawCut, handCut, max(handStd, 256))
		}
	}
}

// echoOnce accepts one connection on a listener made by listen, echoes one
// message and returns the server's read buffer capacities after it.
func echoOnce(t *testing.T, listen func(net.Listener, *tls.Config) net.Listener, srv, cli *tls.Config) (rawInput, hand int, st tls.ConnectionState) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(inner, srv)
	defer ln.Close()
	type caps struct{ raw, hand int }
	done := make(chan caps, 1)
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if sc, ok := tc.NetConn().(syscall.Conn); !ok {
			t.Error("the connection under tls.Conn hides the socket")
		} else if _, err := sc.SyscallConn(); err != nil {
			t.Error(err)
		}
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tc, buf); err != nil {
			return
		}
		if _, err := tc.Write(buf); err != nil {
			return
		}
		r, h := readBufCaps(t, tc)
		done <- caps{r, h}
	}()
	c, err := net.DialTimeout("tcp", inner.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, cli)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 5)
	if _, err := io.ReadFull(tc, echo); err != nil || string(echo) != "hello" {
		t.Fatalf("echo %q: %v", echo, err)
	}
	got, ok := <-done
	if !ok {
		t.Fatal("server side failed")
	}
	return got.raw, got.hand, tc.ConnectionState()
}
