package httpx

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"streamhub/internal/quote"
	"streamhub/internal/ratelog"
)

// Origins decides which web pages may use the server from a visitor's
// browser. It is the only reader of `cors.origins`: every HTTP route
// (publish, subscribe, poll, WebSocket, MQTT over WebSocket) and the CORS
// headers ask it, so a pattern means the same thing everywhere.
type Origins struct {
	anyOrigin bool
	patterns  []string // lower case
}

// NewOrigins compiles the allow-list. An entry is "*" (any origin), a host
// pattern matched as path.Match does ("app.example", "localhost:*",
// "*.example.com" for subdomains at any depth), or, when it holds "://", a
// whole origin pattern ("https://app.example", "https://*.example.com").
func NewOrigins(patterns []string) Origins {
	o := Origins{}
	for _, p := range patterns {
		if p == "*" {
			o.anyOrigin = true
		}
		o.patterns = append(o.patterns, strings.ToLower(p))
	}
	return o
}

// Allowed reports whether r may proceed: requests without Origin (curl,
// native clients: no visitor's browser to abuse), same-origin requests
// (Origin's host is the Host asked for) and listed origins are.
func (o Origins) Allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || o.anyOrigin {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed frames, file://) and garbage
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return o.matches(strings.ToLower(u.Scheme), strings.ToLower(u.Host))
}

// Listed reports whether origin is named by the allow-list itself (not
// merely same-origin): those are the origins CORS answers.
func (o Origins) Listed(origin string) bool {
	if o.anyOrigin {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return o.matches(strings.ToLower(u.Scheme), strings.ToLower(u.Host))
}

func (o Origins) matches(scheme, host string) bool {
	for _, p := range o.patterns {
		target := host
		if strings.Contains(p, "://") {
			target = scheme + "://" + host
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

// Check refuses requests from pages whose Origin is not allowed with 403
// origin_not_allowed, before next sees them, and logs the refusal.
func (o Origins) Check(next http.Handler, log *ratelog.Logger) http.Handler {
	if o.anyOrigin {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.Allowed(r) {
			log.Info("refused", "transport", "http", "remote", r.RemoteAddr, "status", http.StatusForbidden,
				"reason", "origin_not_allowed", "origin", quote.Cut(r.Header.Get("Origin")), "path", quote.Cut(r.URL.Path))
			WriteError(w, http.StatusForbidden, "origin_not_allowed", "origin "+quote.Cut(r.Header.Get("Origin"))+
				" is not allowed: see cors.origins")
			return
		}
		next.ServeHTTP(w, r)
	})
}
