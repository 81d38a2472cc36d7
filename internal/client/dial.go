package client

import (
	"context"
	"fmt"
	"net/url"
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

// Dial returns a Conn for the server URL, by its scheme: http:// and
// https:// (HTTP publish and the NDJSON stream), mqtt:// and mqtts:// (MQTT
// 3.1.1), ws:// and wss:// (the WebSocket JSON protocol on /v1/ws). A user
// name and password in the URL are sent as credentials. Nothing is
// connected before the first call.
func Dial(server string) (Conn, error) {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return nil, badURL(server)
	}
	switch u.Scheme {
	case "http", "https":
		return New(server)
	case "mqtt", "mqtts":
		return newMQTT(u), nil
	case "ws", "wss":
		return newWS(u), nil
	}
	return nil, badURL(server)
}

func badURL(server string) error {
	return fmt.Errorf("client: server URL %q: want http://HOST:PORT, https://, mqtt://HOST:PORT, mqtts://, ws://HOST:PORT or wss://", server)
}

// redacted is u for messages, without its password.
func redacted(u *url.URL) string { return u.Redacted() }
