package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"streamhub/internal/admin"
	"streamhub/internal/auth"
	"streamhub/internal/limit"
	"streamhub/internal/metrics"
	"streamhub/internal/quote"
	"streamhub/internal/ratelog"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/hls"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/webrtc"
)

// TokenCookie is the cookie a browser may carry its token in.
const TokenCookie = "streamhub_token"

// authenticate puts the request's identity in its context, from (in this
// order) an Authorization header (Bearer token or Basic user:password), the
// streamhub_token cookie, or a ?token= query parameter, which is how an
// EventSource or a browser WebSocket can carry one. Bad credentials are
// refused with 401; MQTT over WebSocket authenticates in its CONNECT.
func (s *Server) authenticate(next http.Handler) http.Handler {
	if s.policy.Open() {
		return next
	}
	identified := s.identify(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The dashboard's login checks the credentials it is sent itself.
		// The browser client's script is public code.
		if !strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == admin.LoginPath || isJSClientPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		identified.ServeHTTP(w, r)
	})
}

// identify is authenticate for every request it is given, whatever its
// path: the configured routes (fixedroutes.go) are endpoints outside /v1/.
func (s *Server) identify(next http.Handler) http.Handler {
	if s.policy.Open() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.credentials(r)
		if err != nil {
			status, code := http.StatusUnauthorized, "unauthorized"
			switch {
			case errors.Is(err, auth.ErrBadToken):
				code = "invalid_token"
			case errors.Is(err, limit.ErrTooManyFailures):
				status, code = http.StatusTooManyRequests, "too_many_failures"
			case errors.Is(err, auth.ErrUnavailable):
				status, code = http.StatusServiceUnavailable, "unavailable"
			}
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
			}
			s.remote.Info("refused", "transport", "http", "remote", r.RemoteAddr, "status", status,
				"reason", code, "path", quote.Cut(r.URL.Path))
			httpx.WriteError(w, status, code, err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	})
}

func (s *Server) credentials(r *http.Request) (*auth.Identity, error) {
	if user := tlsconf.PeerUser(r.TLS); user != "" {
		return s.policy.Certificate(user, ""), nil
	}
	login := auth.Credentials{Protocol: protocolOf(r), Remote: r.RemoteAddr}
	if h := r.Header.Get("Authorization"); h != "" {
		if token, ok := strings.CutPrefix(h, "Bearer "); ok {
			login.Token = strings.TrimSpace(token)
			return s.policy.Login(r.Context(), login)
		}
		if user, pass, ok := r.BasicAuth(); ok {
			login.User, login.Password = user, pass
			return s.policy.Login(r.Context(), login)
		}
		return nil, errors.New("unsupported Authorization scheme: use Bearer or Basic")
	}
	if id, err := s.logins.Identify(r); id != nil || err != nil {
		return id, err
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		login.Token = c.Value
		return s.policy.Login(r.Context(), login)
	}
	if token := r.URL.Query().Get("token"); token != "" {
		login.Token = token
		return s.policy.Login(r.Context(), login)
	}
	return s.policy.Anonymous("")
}

// protocolOf names the door an HTTP request came through, for the
// auth.http service: ws (any WebSocket upgrade), whip, whep, webrtc, hls,
// or http (publish, SSE, NDJSON, long polling).
func protocolOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		return "ws"
	case strings.HasPrefix(p, webrtc.WHIPPrefix):
		return "whip"
	case strings.HasPrefix(p, webrtc.WHEPPrefix):
		return "whep"
	case strings.HasPrefix(p, webrtc.Prefix):
		return "webrtc"
	case strings.HasPrefix(p, hls.Prefix):
		return "hls"
	}
	return "http"
}

// callbackObserver counts the auth.http service's answers and logs its
// failures (at most a few a second: a service that is down fails every
// login).
func (s *Server) callbackObserver() auth.Observer { return callbackObserver{s.metrics, s.remote} }

type callbackObserver struct {
	metrics *metrics.Metrics
	log     *ratelog.Logger
}

func (o callbackObserver) AuthCallback(result string, took time.Duration, err error) {
	o.metrics.AuthCallback(result, took)
	if err != nil {
		o.log.Error("auth callback failed", "result", result, "err", err)
	}
}

func (o callbackObserver) AuthCallbackCached(result string) { o.metrics.AuthCallbackCached(result) }
