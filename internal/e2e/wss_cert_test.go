package e2e

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestMQTTOverWSSClientCertificate: MQTT over wss://…/mqtt takes its
// identity from the client certificate, as /v1/ws on the same listener does.
func TestMQTTOverWSSClientCertificate(t *testing.T) {
	t.Parallel()
	ca := testkit.NewCA(t)
	dir := t.TempDir()
	certFile, keyFile, _ := ca.Issue(dir, "127.0.0.1", false)
	clientCert, clientKey, _ := ca.Issue(dir, "alice", true)
	s := testkit.Start(t, func(c *config.Config) {
		c.HTTP.Cert, c.HTTP.Key = certFile, keyFile
		c.Auth = config.Auth{Required: true, Clientca: ca.File,
			ACL: []config.ACL{{Who: "*", Publish: []string{"users/%u/#"}, Subscribe: []string{"users/%u/#"}}}}
	})
	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	// HTTP/1.1 only: WebSocket upgrades do not go over h2 here.
	withCert := &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: withCert}}
	wsURL := "wss://" + s.Addr()

	plain, _, err := websocket.Dial(t.Context(), wsURL+"/v1/ws/users/alice/x", &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("/v1/ws by certificate: %v", err)
	}
	plain.CloseNow()

	wc, _, err := websocket.Dial(t.Context(), wsURL+"/mqtt", &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	ack, err := paho.NewClient(paho.ClientConfig{Conn: nc}).Connect(t.Context(), &paho.Connect{ClientID: "wss-cert", CleanStart: true})
	if ack == nil || ack.ReasonCode != 0 {
		t.Fatalf("MQTT over wss with a client certificate: CONNACK %+v %v", ack, err)
	}
	nc.Close()
}
