package tlsconf_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

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
