// Package client is the HTTP client behind `streamhub pub` and
// `streamhub sub`: publishing with POST /v1/publish and subscribing to the
// NDJSON stream, resuming from the last cursor after a disconnect.
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

	"streamhub/internal/envelope"
	"streamhub/internal/httpx"
)

// Client talks to one streamhub server.
type Client struct {
	base string
	http *http.Client
}

// New returns a client for the server at base (e.g. http://127.0.0.1:8080).
func New(base string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q: want http://HOST:PORT", base)
	}
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{}}, nil
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
	Log          *slog.Logger
}

// ErrStop, returned by a handler, ends Subscribe without error.
var ErrStop = errors.New("stop")

// Subscribe streams messages matching filters to handle, with the raw JSON
// line of each, until ctx ends or handle returns an error. It reconnects
// with capped backoff, resuming from the last cursor it saw.
func (c *Client) Subscribe(ctx context.Context, filters []string, opts SubscribeOptions,
	handle func(e envelope.Envelope, line []byte) error) error {
	cursor := opts.Cursor
	backoff := 100 * time.Millisecond
	for {
		got, err := c.stream(ctx, filters, cursor, opts, func(e envelope.Envelope, line []byte) error {
			cursor = e.ID
			return handle(e, line)
		})
		switch {
		case errors.Is(err, ErrStop):
			return nil
		case ctx.Err() != nil:
			return nil
		case err != nil && !isRetryable(err):
			return err
		}
		if got {
			backoff = 100 * time.Millisecond
		}
		if opts.Log != nil {
			opts.Log.Warn("stream ended, reconnecting", "err", err, "cursor", cursor, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

type statusError struct{ text string }

func (e *statusError) Error() string { return e.text }

func isRetryable(err error) bool {
	var se *statusError
	return !errors.As(err, &se)
}

// stream runs one connection; got reports whether it delivered anything.
func (c *Client) stream(ctx context.Context, filters []string, cursor string, opts SubscribeOptions,
	handle func(envelope.Envelope, []byte) error) (got bool, err error) {
	q := url.Values{"topic": filters}
	if cursor != "" {
		q.Set("cursor", cursor)
	} else if opts.NoRetained {
		q.Set("retained", "false")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/subscribe?"+q.Encode(), nil)
	if err != nil {
		return false, &statusError{err.Error()}
	}
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("client: subscribe: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 500 {
			return false, fmt.Errorf("client: subscribe: %s", errorText(resp.Status, body))
		}
		return false, &statusError{"client: subscribe: " + errorText(resp.Status, body)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue // heartbeat
		}
		var e envelope.Envelope
		if err := json.Unmarshal(line, &e); err != nil {
			return got, fmt.Errorf("client: bad line from server: %w", err)
		}
		switch e.Type {
		case envelope.TypeMessage:
			got = true
			if err := handle(e, line); err != nil {
				return got, err
			}
		case envelope.TypeSubscribed:
			if opts.OnSubscribed != nil {
				opts.OnSubscribed()
			}
		case envelope.TypeGap:
			if opts.Log != nil {
				opts.Log.Warn("history gap: some messages were missed", "cursor", cursor)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return got, fmt.Errorf("client: read stream: %w", err)
	}
	return got, io.ErrUnexpectedEOF
}
