package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// mediaTLSServer serves RTMPS and RTSPS beside plain RTMP and RTSP, with a
// certificate of their own, and returns the pool that trusts it.
func mediaTLSServer(t *testing.T, mutate func(*config.Config)) (*testkit.Server, *x509.CertPool) {
	t.Helper()
	cert, key, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	srv := mediaServer(t, func(c *config.Config) {
		c.RTMP.Tlsaddr, c.RTMP.Cert, c.RTMP.Key = "127.0.0.1:0", cert, key
		c.RTSP.Tlsaddr, c.RTSP.Cert, c.RTSP.Key = "127.0.0.1:0", cert, key
		if mutate != nil {
			mutate(c)
		}
	})
	return srv, pool
}

// The issue's test: ffmpeg publishes over RTMPS, ffprobe reads over RTSPS
// (and RTMPS); plain text on either TLS port is dropped without harm to
// the server, which serves the path over TLS still.
func TestMediaRTMPSToRTSPS(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv, _ := mediaTLSServer(t, nil)
	publishFFmpeg(t, "flv", "rtmps://"+srv.RTMPS().Addr()+"/live/cam1")
	waitOnline(t, srv, "live/cam1")
	rtspsURL := "rtsps://" + srv.RTSPS().Addr() + "/live/cam1"
	wantH264AAC(t, probe(t, rtspsURL))
	wantH264AAC(t, probe(t, "rtmps://"+srv.RTMPS().Addr()+"/live/cam1"))
	wantH264AAC(t, probe(t, "rtsp://"+srv.RTSP().Addr()+"/live/cam1", "-rtsp_transport", "tcp"))

	// RTMP's and RTSP's plain text on the TLS ports: not a TLS client hello,
	// so the connection ends (Go's TLS answers an alert first).
	plainRTMP := dial(t, srv.RTMPS().Addr())
	if _, err := plainRTMP.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, plainRTMP)
	plainRTSP := dial(t, srv.RTSPS().Addr())
	fmt.Fprintf(plainRTSP, "OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 1\r\n\r\n", plainRTSP.RemoteAddr())
	wantClosed(t, plainRTSP)
	wantH264AAC(t, probe(t, rtspsURL))
}

// RTMPS and RTSPS connections take their slots of limits.peraddress with
// every other protocol's: past it, RTSPS answers 503 inside TLS as RTSP
// does in clear, RTMPS closes the connection as RTMP does, and the
// admitted connections keep working.
func TestMediaTLSConnectionsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	srv, pool := mediaTLSServer(t, func(c *config.Config) {
		c.Limits.Peraddress = 2
		c.RTMP.Timeout, c.RTSP.Timeout = time.Minute, time.Minute // admitted ones wait for us
	})
	tlsDial := func(addr string) *tls.Conn {
		c := tls.Client(dial(t, addr), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		t.Cleanup(func() { c.Close() })
		return c
	}
	rtmps := tlsDial(srv.RTMPS().Addr())
	rtmpHandshake(t, rtmps)
	rtsps := tlsDial(srv.RTSPS().Addr())
	wantRTSPOptions(t, rtsps)

	over := tlsDial(srv.RTSPS().Addr())
	fmt.Fprintf(over, "OPTIONS rtsps://%s/ RTSP/1.0\r\nCSeq: 7\r\n\r\n", srv.RTSPS().Addr())
	wantRTSPStatus(t, over, "503")
	over = tlsDial(srv.RTMPS().Addr())
	if _, err := over.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("a third connection from one address to RTMPS was not closed (read: %v)", err)
	}

	wantRTSPOptions(t, rtsps)
	if g := connectionGauges(t, srv); g["rtmps"] != 1 || g["rtsps"] != 1 {
		t.Fatalf("streamhub_connections: %v, want rtmps 1 and rtsps 1", g)
	}
}

// With auth.clientca, a client certificate the CA signed names the user
// over RTMPS and RTSPS, as on every TLS listener: cam publishes and viewer
// reads with no credentials in their URLs, and without a certificate the
// same URLs are refused.
func TestMediaTLSClientCertificates(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	serverCert, serverKey, _ := ca.Issue(dir, "127.0.0.1", false)
	camCert, camKey, _ := ca.Issue(dir, "cam", true)
	viewerCert, viewerKey, _ := ca.Issue(dir, "viewer", true)
	srv := mediaServer(t, func(c *config.Config) {
		c.RTMP.Tlsaddr, c.RTMP.Cert, c.RTMP.Key = "127.0.0.1:0", serverCert, serverKey
		c.RTSP.Tlsaddr, c.RTSP.Cert, c.RTSP.Key = "127.0.0.1:0", serverCert, serverKey
		c.Auth = config.Auth{Required: true, Clientca: ca.File, ACL: []config.ACL{
			{Who: "cam", Publish: []string{"media/live/#"}},
			{Who: "viewer", Subscribe: []string{"media/live/#"}},
		}}
	})
	rtmpsURL := "rtmps://" + srv.RTMPS().Addr() + "/live/cam1"
	rtspsURL := "rtsps://" + srv.RTSPS().Addr() + "/live/cam1"
	gen := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-c:v", "libx264"}
	ffmpegFails(t, "ffmpeg", append(gen, "-f", "flv", rtmpsURL)...)
	ffmpegFails(t, "ffmpeg", append(gen, "-cert_file", viewerCert, "-key_file", viewerKey, "-f", "flv", rtmpsURL)...)

	publishFFmpeg(t, "flv", rtmpsURL, "-cert_file", camCert, "-key_file", camKey)
	waitOnline(t, srv, "live/cam1")
	wantH264AAC(t, probe(t, rtmpsURL, "-cert_file", viewerCert, "-key_file", viewerKey))
	ffmpegFails(t, "ffprobe", "-v", "error", rtspsURL)

	// ffmpeg's RTSP gives its TLS no options (no client certificate), so a
	// Go client asks DESCRIBE over RTSPS, with the viewer's certificate and
	// without one.
	describe := func(cert *tls.Certificate) string {
		tc := &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"}
		if cert != nil {
			tc.Certificates = []tls.Certificate{*cert}
		}
		c := tls.Client(dial(t, srv.RTSPS().Addr()), tc)
		defer c.Close()
		fmt.Fprintf(c, "DESCRIBE %s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n", rtspsURL)
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("DESCRIBE over RTSPS: %v", err)
		}
		return strings.TrimSpace(line)
	}
	viewer, err := tls.LoadX509KeyPair(viewerCert, viewerKey)
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(&viewer); got != "RTSP/1.0 200 OK" {
		t.Fatalf("DESCRIBE with the viewer's certificate: %q, want 200", got)
	}
	if got := describe(nil); got != "RTSP/1.0 401 Unauthorized" {
		t.Fatalf("DESCRIBE without a certificate: %q, want 401", got)
	}
}

// A certificate replaced on disk is served by RTMPS and RTSPS without a
// restart, as by every TLS listener (tlsconf).
func TestMediaTLSCertificateReload(t *testing.T) {
	t.Parallel()
	oldCA, newCA := testkit.NewCA(t), testkit.NewCA(t)
	dir := t.TempDir()
	cert, key, _ := oldCA.Issue(dir, "127.0.0.1", false)
	srv := mediaServer(t, func(c *config.Config) {
		c.RTMP.Tlsaddr, c.RTSP.Tlsaddr = "127.0.0.1:0", "127.0.0.1:0"
		c.HTTP.Cert, c.HTTP.Key = cert, key // the fallback of rtmp.cert and rtsp.cert
	})
	handshake := func(addr string, pool *x509.CertPool) error {
		c := tls.Client(dial(t, addr), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		defer c.Close()
		return c.Handshake()
	}
	for _, addr := range []string{srv.RTMPS().Addr(), srv.RTSPS().Addr()} {
		if err := handshake(addr, oldCA.Pool); err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
	}
	// Issue writes the new pair over the old files (same name, same dir).
	newCA.Issue(dir, "127.0.0.1", false)
	for _, addr := range []string{srv.RTMPS().Addr(), srv.RTSPS().Addr()} {
		testkit.Eventually(t, 15*time.Second, addr+" serving the new certificate", func() bool {
			return handshake(addr, newCA.Pool) == nil
		})
	}
}
