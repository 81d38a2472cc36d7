package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coder/websocket"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/codec/wsproto"
)

// wsConn speaks the WebSocket JSON protocol (/v1/ws): publishes are
// acknowledged with their cursor, messages arrive as envelopes, and a
// subscription resumes from its last cursor after a reconnect.
type wsConn struct {
	url    *url.URL
	header http.Header // credentials from the URL, as Basic auth
	client *http.Client
	pub    *websocket.Conn // dialled by the first Publish
	nextID int             // of publish requests, to match their acks
}

// wsReadLimit is the largest frame read: above the server's largest payload.
const wsReadLimit = 64 << 20

func newWS(u *url.URL, opts Options) *wsConn {
	endpoint := *u
	endpoint.Path, endpoint.RawQuery, endpoint.User = "/v1/ws", "", nil
	c := &wsConn{url: &endpoint, header: http.Header{}, client: opts.httpClient()}
	if u.User != nil {
		p, _ := u.User.Password()
		c.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+p)))
	}
	return c
}

func (w *wsConn) dial(ctx context.Context) (*websocket.Conn, error) {
	conn, resp, err := websocket.Dial(ctx, w.url.String(), &websocket.DialOptions{HTTPHeader: w.header, HTTPClient: w.client})
	if err != nil {
		if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return nil, &statusError{fmt.Sprintf("client: %s refused the connection: %s", w.url, resp.Status)}
		}
		return nil, fmt.Errorf("client: connect %s: %w", w.url, err)
	}
	conn.SetReadLimit(wsReadLimit)
	return conn, nil
}

func (w *wsConn) send(ctx context.Context, conn *websocket.Conn, req wsproto.Request) error {
	b, _ := json.Marshal(req) // strings, bools and numbers: cannot fail
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("client: send to %s: %w", w.url, err)
	}
	return nil
}

// frame is a server frame: a reply, or (Type "message") an envelope.
type frame struct {
	envelope.Control
	msg envelope.Envelope
}

func (w *wsConn) read(ctx context.Context, conn *websocket.Conn) (frame, []byte, error) {
	_, data, err := conn.Read(ctx)
	if err != nil {
		return frame{}, nil, fmt.Errorf("client: read from %s: %w", w.url, err)
	}
	var f frame
	err = json.Unmarshal(data, &f.Control)
	if err == nil && f.Type == envelope.TypeMessage {
		err = json.Unmarshal(data, &f.msg)
	}
	if err != nil {
		return frame{}, nil, fmt.Errorf("client: bad frame from %s: %w", w.url, err)
	}
	return f, data, nil
}

// Publish sends one message and waits for its acknowledgement.
func (w *wsConn) Publish(ctx context.Context, topic string, payload []byte, opts PublishOptions) (string, error) {
	if w.pub == nil {
		conn, err := w.dial(ctx)
		if err != nil {
			return "", err
		}
		w.pub = conn
	}
	w.nextID++
	id := strconv.Itoa(w.nextID)
	req := wsproto.Request{Op: wsproto.OpPublish, ID: id, Topic: topic, ContentType: opts.ContentType, Retain: opts.Retain}
	req.Encoding, req.Payload = envelope.EncodePayload(payload)
	if err := w.send(ctx, w.pub, req); err != nil {
		return "", err
	}
	for {
		f, _, err := w.read(ctx, w.pub)
		switch {
		case err != nil:
			return "", err
		case f.Type == envelope.TypeAck && f.ID == id:
			return f.Cursor, nil
		case f.Type == envelope.TypeError && f.ID == id:
			return "", fmt.Errorf("client: publish: %s: %s", f.Code, f.Message)
		}
	}
}

// Subscribe subscribes and, after a disconnect, resubscribes after the
// last cursor it saw.
func (w *wsConn) Subscribe(ctx context.Context, filters []string, opts SubscribeOptions, handle Handler) error {
	return resubscribe(ctx, w.url.String(), filters, opts, handle, func(cursor string, retry *retrier, handle Handler) error {
		return w.session(ctx, filters, cursor, opts, retry, handle)
	})
}

// session runs one connection until it drops, ctx ends or handle fails.
func (w *wsConn) session(ctx context.Context, filters []string, cursor string, opts SubscribeOptions, retry *retrier, handle Handler) error {
	conn, err := w.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	req := wsproto.Request{Op: wsproto.OpSubscribe, ID: "sub", Topics: filters, Cursor: cursor}
	if cursor == "" && opts.NoRetained {
		no := false
		req.Retained = &no
	}
	if err := w.send(ctx, conn, req); err != nil {
		return err
	}
	retry.connected()
	for {
		f, line, err := w.read(ctx, conn)
		if err != nil {
			return err
		}
		switch f.Type {
		case envelope.TypeMessage:
			if err := handle(f.msg, line); err != nil {
				conn.Close(websocket.StatusNormalClosure, "")
				return err
			}
		case envelope.TypeSubscribed:
			if f.Gap && opts.Log != nil {
				opts.Log.Warn("history gap: some messages were missed", "cursor", cursor)
			}
			if opts.OnSubscribed != nil {
				opts.OnSubscribed()
			}
		case envelope.TypeError:
			return &statusError{fmt.Sprintf("client: %s refused the subscription: %s", w.url, f.Message)}
		}
	}
}

// Close closes the publishing connection.
func (w *wsConn) Close() error {
	if w.pub != nil {
		return w.pub.Close(websocket.StatusNormalClosure, "")
	}
	return nil
}
