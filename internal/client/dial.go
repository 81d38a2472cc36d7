package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"streamhub/internal/quote"
)

// Conn is what `streamhub pub` and `streamhub sub` need of a server,
// whichever protocol reaches it.
type Conn interface {
	// Publish sends one message and returns its cursor, when the protocol
	// tells it (MQTT does not).
	Publish(ctx context.Context, topic string, payload []byte, opts PublishOptions) (cursor string, err error)
	// Subscribe calls handle with each message matching filters until ctx
	// ends or handle returns an error (ErrStop: no error).
	Subscribe(ctx context.Context, filters []string, opts SubscribeOptions, handle Handler) error
	Close() error
}

var (
	_ Conn = (*Client)(nil)
	_ Conn = (*mqttConn)(nil)
	_ Conn = (*wsConn)(nil)
)

// Options are a connection's optional parts.
type Options struct {
	// TLS, if set, configures https://, mqtts:// and wss:// connections
	// (TrustCA makes one that trusts a self-signed certificate).
	TLS *tls.Config
}

// Dial returns a Conn for the server URL, by its scheme: http:// and
// https:// (HTTP publish and the NDJSON stream), mqtt:// and mqtts:// (MQTT
// 3.1.1), ws:// and wss:// (the WebSocket JSON protocol on /v1/ws). A user
// name and password in the URL are sent as credentials, and never appear in
// a message. Nothing is connected before the first call.
func Dial(server string, opts Options) (Conn, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, badURL(server)
	}
	switch u.Scheme {
	case "http", "https":
		return newHTTP(u, opts)
	case "mqtt", "mqtts":
		return newMQTT(u, opts), nil
	case "ws", "wss":
		return newWS(u, opts), nil
	}
	return nil, badURL(server)
}

// TrustCA is a TLS configuration that trusts the PEM certificates in file
// (a self-signed server certificate, or the CA that signed it) besides the
// system's.
func TrustCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("client: --ca: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("client: --ca %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// httpClient is an HTTP client with the TLS configuration, if any.
func (o Options) httpClient() *http.Client {
	if o.TLS == nil {
		return &http.Client{}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = o.TLS
	return &http.Client{Transport: tr}
}

func badURL(server string) error {
	return fmt.Errorf("client: server URL %q: want http://HOST:PORT, https://, mqtt://HOST:PORT, mqtts://, ws://HOST:PORT or wss://",
		quote.URL(server))
}

// redacted is u for messages, without its password.
func redacted(u *url.URL) string { return u.Redacted() }
