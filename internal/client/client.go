// Package client is the client behind `streamhub pub` and `streamhub sub`,
// over HTTP (publishing with POST /v1/publish and subscribing to the NDJSON
// stream, resuming from the last cursor after a disconnect), MQTT 3.1.1 or
// the WebSocket JSON protocol; Dial picks one by the server URL's scheme.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/quote"
	"streamhub/internal/transport/kit/httpx"
)

// Client talks to one streamhub server.
type Client struct {
	base    string // with the credentials, which net/http sends as Basic auth
	display string // base without the password, for messages
	http    *http.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:8080).
func New(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, badURL(base)
	}
	return newHTTP(u, Options{})
}

func newHTTP(u *url.URL, opts Options) (*Client, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, badURL(u.String())
	}
	base := strings.TrimRight(u.String(), "/")
	return &Client{base: base, display: quote.URL(base), http: opts.httpClient()}, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// PublishOptions are a publish's optional parts.
type PublishOptions struct {
	Retain      bool
	ContentType string
}

// Publish sends one message and returns its cursor.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, opts PublishOptions) (string, error) {
	u := c.base + "/v1/publish?topic=" + url.QueryEscape(topic)
	if opts.Retain {
		u += "&retain=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return "", fmt.Errorf("client: publish: %w", err)
	}
	if opts.ContentType != "" {
		req.Header.Set("Content-Type", opts.ContentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("client: publish: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("client: publish: %s", errorText(resp.Status, body))
	}
	var res struct {
		Cursor string `json:"cursor"`
	}
	_ = json.Unmarshal(body, &res)
	return res.Cursor, nil
}

func errorText(status string, body []byte) string {
	var e httpx.ErrorBody
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return status + ": " + e.Error.Message
	}
	return status
}

// SubscribeOptions tune Subscribe.
type SubscribeOptions struct {
	// Cursor resumes after this cursor; empty starts with retained messages.
	Cursor string
	// NoRetained skips retained messages on a fresh subscription.
	NoRetained bool
	// OnSubscribed, if set, is called each time the stream is established.
	OnSubscribed func()
	// RetryFor bounds how long the server may stay unreachable (at the
	// start or after a disconnect) before Subscribe gives up; zero retries
	// until ctx ends.
	RetryFor time.Duration
	Log      *slog.Logger
}

// ErrStop, returned by a handler, ends Subscribe without error.
var ErrStop = errors.New("stop")

// Handler receives each message, with its JSON envelope line.
type Handler func(e envelope.Envelope, line []byte) error

// Subscribe streams messages matching filters to handle, with the raw JSON
// line of each, until ctx ends or handle returns an error. It reconnects
// with capped backoff, resuming from the last cursor it saw.
func (c *Client) Subscribe(ctx context.Context, filters []string, opts SubscribeOptions, handle Handler) error {
	return resubscribe(ctx, c.display, filters, opts, handle, func(cursor string, retry *retrier, handle Handler) error {
		return c.stream(ctx, filters, cursor, opts, retry, handle)
	})
}

// statusError is a refusal by the server (bad filter, no rights...).
type statusError struct{ text string }

func (e *statusError) Error() string { return e.text }

// stream runs one connection, telling retry once it is established.
func (c *Client) stream(ctx context.Context, filters []string, cursor string, opts SubscribeOptions,
	retry *retrier, handle Handler) error {
	q := url.Values{"topic": filters}
	if cursor != "" {
		q.Set("cursor", cursor)
	} else if opts.NoRetained {
		q.Set("retained", "false")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/subscribe?"+q.Encode(), nil)
	if err != nil {
		return &statusError{err.Error()}
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("client: subscribe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 500 {
			return fmt.Errorf("client: subscribe: %s", errorText(resp.Status, body))
		}
		return &statusError{"client: subscribe: " + errorText(resp.Status, body)}
	}
	retry.connected()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue // heartbeat
		}
		var e envelope.Envelope
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("client: bad line from server: %w", err)
		}
		switch e.Type {
		case envelope.TypeMessage:
			if err := handle(e, line); err != nil {
				return err
			}
		case envelope.TypeSubscribed:
			if opts.OnSubscribed != nil {
				opts.OnSubscribed()
			}
		case envelope.TypeGap:
			if opts.Log != nil {
				opts.Log.Warn("history gap: some messages were missed", "cursor", cursor)
			}
		case envelope.TypeClose:
			return closedByServer(line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("client: read stream: %w", err)
	}
	return io.ErrUnexpectedEOF
}

// closedByServer is the end of a stream the server closed with a close
// line: the retry says why (shutdown, slow_consumer, kicked) rather than
// reporting an unexpected EOF.
func closedByServer(line []byte) error {
	var c envelope.Control
	if err := json.Unmarshal(line, &c); err != nil {
		return fmt.Errorf("client: bad close line from server: %w", err)
	}
	return fmt.Errorf("client: the server closed the stream: %s", c.Reason)
}
