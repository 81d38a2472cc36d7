package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"streamhub/internal/core/topic"
	"streamhub/internal/tlsconf"
)

// HTTPConfig delegates the logins the users file and the JWT keys do not
// decide to an HTTP service (auth.http; docs/SECURITY.md).
type HTTPConfig struct {
	URL     string        // POSTed each login's credentials as JSON; empty: no callback
	Timeout time.Duration // how long one call may take, connection included
	// Cache and DenyCache are how long an allow and a deny answer are
	// reused for the same credentials (0: not kept); CacheSize bounds the
	// answers kept.
	Cache, DenyCache time.Duration
	CacheSize        int
	// FailOpen lets a login in as anonymous (the rights of the ACL's
	// "anonymous" and "all" rules) when the callback fails or times out;
	// otherwise (the default) the login is refused with ErrUnavailable.
	FailOpen bool
	Headers  []string // "Name: value" lines sent with every call
	Bearer   string   // sent as Authorization: Bearer
	CA       string   // PEM file of the CA an https URL's certificate is checked against
}

// Callback results, as the metrics label them.
const (
	ResultAllow   = "allow"
	ResultDeny    = "deny"
	ResultError   = "error"
	ResultTimeout = "timeout"
)

// Observer is told how the callback answers; internal/metrics counts it.
type Observer interface {
	// AuthCallback reports a call: its result, how long it took, and for
	// ResultError and ResultTimeout what went wrong.
	AuthCallback(result string, took time.Duration, err error)
	// AuthCallbackCached reports a login answered from the cache.
	AuthCallbackCached(result string)
}

// ErrUnavailable refuses a login the callback could not decide (down,
// slow, or an answer that makes no sense) when it fails closed;
// transports answer it as a server that is unavailable (MQTT 0x88, HTTP
// 503).
var ErrUnavailable = errors.New("authentication service unavailable")

// callbackRequest is the JSON body of a call. Empty fields are left out.
type callbackRequest struct {
	Protocol string `json:"protocol"`
	Remote   string `json:"remote,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Token    string `json:"token,omitempty"`
	ClientID string `json:"clientid,omitempty"`
}

// callbackAnswer is the JSON body of a 2xx answer.
type callbackAnswer struct {
	Result        string   `json:"result"` // "allow" or "deny"
	User          string   `json:"user"`   // the identity's name; default: the user name sent
	Roles         []string `json:"roles"`
	Publish       []string `json:"publish"`
	Subscribe     []string `json:"subscribe"`
	DenyPublish   []string `json:"denypublish"`
	DenySubscribe []string `json:"denysubscribe"`
}

// verdict is what a call decided: an identity to copy, or a deny.
type verdict struct {
	allow bool
	id    Identity // without ClientID, which each login sets
}

// callback calls the HTTP service.
type callback struct {
	cfg     HTTPConfig
	client  *http.Client
	headers http.Header
}

func newCallback(cfg HTTPConfig) (*callback, error) {
	if cfg.Timeout <= 0 {
		return nil, errors.New("auth: http: timeout must be positive")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("auth: http: url %q: want http:// or https://", cfg.URL)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Logins come in bursts (a restart reconnects every device): keep more
	// than the default two connections to the service for reuse.
	transport.MaxIdleConnsPerHost = 64
	if cfg.CA != "" {
		pool, err := tlsconf.CAPool(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("auth: http: %w", err)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	headers := http.Header{}
	for _, h := range cfg.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("auth: http: header %q: want \"Name: value\"", h)
		}
		headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if cfg.Bearer != "" {
		headers.Set("Authorization", "Bearer "+cfg.Bearer)
	}
	headers.Set("Content-Type", "application/json")
	return &callback{cfg: cfg, client: &http.Client{Transport: transport, Timeout: cfg.Timeout,
		// A redirect could carry the credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		headers: headers}, nil
}

// ask POSTs c and reads the verdict. The result is one of the Result
// constants; err says why for ResultError and ResultTimeout.
func (cb *callback) ask(ctx context.Context, c Credentials) (verdict, string, error) {
	ctx, cancel := context.WithTimeout(ctx, cb.cfg.Timeout)
	defer cancel()
	body, err := json.Marshal(callbackRequest{Protocol: c.Protocol, Remote: c.Remote, Username: c.User,
		Password: c.Password, Token: c.Token, ClientID: c.ClientID})
	if err != nil {
		return verdict{}, ResultError, fmt.Errorf("auth: http: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return verdict{}, ResultError, fmt.Errorf("auth: http: %w", err)
	}
	req.Header = cb.headers.Clone()
	resp, err := cb.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return verdict{}, ResultTimeout, fmt.Errorf("auth: http: no answer within %v: %w", cb.cfg.Timeout, err)
		}
		return verdict{}, ResultError, fmt.Errorf("auth: http: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return verdict{}, ResultTimeout, fmt.Errorf("auth: http: answer not read within %v: %w", cb.cfg.Timeout, err)
		}
		return verdict{}, ResultError, fmt.Errorf("auth: http: read answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return verdict{}, ResultDeny, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return verdict{}, ResultError, fmt.Errorf("auth: http: status %d", resp.StatusCode)
	}
	v, err := decodeAnswer(raw, c.User)
	if err != nil {
		return verdict{}, ResultError, err
	}
	if !v.allow {
		return v, ResultDeny, nil
	}
	return v, ResultAllow, nil
}

// decodeAnswer reads a 2xx answer's body: empty means allow with no rights
// beyond the ACL's; otherwise result must say allow or deny, and every
// filter must be valid.
func decodeAnswer(raw []byte, user string) (verdict, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return verdict{allow: true, id: Identity{User: user}}, nil
	}
	var a callbackAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return verdict{}, fmt.Errorf("auth: http: answer: %w", err)
	}
	switch a.Result {
	case ResultDeny:
		return verdict{}, nil
	case ResultAllow:
	default:
		return verdict{}, fmt.Errorf("auth: http: answer: result %q, want allow or deny", a.Result)
	}
	for _, list := range [][]string{a.Publish, a.Subscribe, a.DenyPublish, a.DenySubscribe} {
		for _, f := range list {
			if err := topic.ValidateFilter(f); err != nil {
				return verdict{}, fmt.Errorf("auth: http: answer: filter %q: %w", f, err)
			}
		}
	}
	if a.User == "" {
		a.User = user
	}
	return verdict{allow: true, id: Identity{User: a.User, Roles: a.Roles,
		Rights: &Rights{Publish: a.Publish, Subscribe: a.Subscribe, DenyPublish: a.DenyPublish, DenySubscribe: a.DenySubscribe}}}, nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
