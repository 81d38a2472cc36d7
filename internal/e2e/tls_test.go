package e2e

import (
	"bufio"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestClientCertificatesAndReload: a client certificate signed by the
// configured CA is its user on MQTT and HTTPS; the server certificate is
// reloaded when its files change.
func TestClientCertificatesAndReload(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, serial := ca.Issue(dir, "127.0.0.1", false)
	clientCert, clientKey, _ := ca.Issue(dir, "alice", true)
	s := testkit.Start(t, func(c *config.Config) {
		c.HTTP.Cert, c.HTTP.Key = certFile, keyFile
		c.TCP.Addr, c.TCP.TLS = "127.0.0.1:0", true
		c.Auth = config.Auth{Required: true, Clientca: ca.File,
			ACL: []config.ACL{{Who: "*", Publish: []string{"users/%u/#"}, Subscribe: []string{"users/%u/#"}}}}
	})
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	withCert := &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{pair}}

	// MQTT over TLS, no password: the certificate says who it is.
	nc, err := tls.Dial("tcp", s.MQTT().Addr("mqtts").String(), withCert)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := connect5(t, s, "cert-client", v5opts{clean: true, conn: nc})
	pr, err := c.Publish(t.Context(), &paho.Publish{Topic: "users/alice/x", QoS: 1, Payload: []byte("hi")})
	if err != nil || pr.ReasonCode != 0 {
		t.Fatalf("alice by certificate could not publish: %+v %v", pr, err)
	}
	// Without a certificate (or credentials) the same client is refused.
	bare, err := tls.Dial("tcp", s.MQTT().Addr("mqtts").String(), &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	ca5, _ := paho.NewClient(paho.ClientConfig{Conn: bare}).Connect(t.Context(), &paho.Connect{ClientID: "bare", CleanStart: true})
	if ca5 == nil || ca5.ReasonCode != 0x87 {
		t.Errorf("no certificate: CONNACK %+v", ca5)
	}

	// HTTPS publish with the certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: withCert}}
	resp, err := client.Post("https://"+s.Addr()+"/v1/publish/users/alice/x", "text/plain", strings.NewReader("hi"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTPS publish by certificate: %v %v", resp, err)
	}
	resp.Body.Close()

	// The TCP text protocol over TLS, identified by the certificate too.
	tc, err := tls.Dial("tcp", s.TCP().TextAddr().String(), withCert)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.Write([]byte("PUB users/alice/x 2\nhi\n"))
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		t.Fatalf("TCP over TLS by certificate: %q %v", line, err)
	}

	// Replace the server certificate: new connections get the new one.
	backup := t.TempDir()
	oldCert, oldKey := filepath.Join(backup, "cert.pem"), filepath.Join(backup, "key.pem")
	copyFile(t, certFile, oldCert)
	copyFile(t, keyFile, oldKey)
	time.Sleep(1100 * time.Millisecond) // a newer modification time, past the check interval
	newCert, newKey, newSerial := ca.Issue(t.TempDir(), "127.0.0.1", false)
	copyFile(t, newCert, certFile)
	copyFile(t, newKey, keyFile)
	servedSerial := func() int64 {
		conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: ca.Pool})
		if err != nil {
			return 0
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	testkit.Eventually(t, 10*time.Second, "the reloaded certificate", func() bool { return servedSerial() == newSerial })

	// Restore the backup with its older modification time, as `cp -p`,
	// `rsync -a` or `mv` do: it is a change too, and is loaded.
	long := time.Now().Add(-time.Hour)
	for _, f := range [][2]string{{oldCert, certFile}, {oldKey, keyFile}} {
		copyFile(t, f[0], f[1])
		if err := os.Chtimes(f[1], long, long); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "the restored older certificate", func() bool { return servedSerial() == serial })
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}
