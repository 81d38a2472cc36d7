package admin

import (
	"net"
	"net/http"
	"net/url"
	"strings"

	"streamhub/internal/quote"
	"streamhub/internal/transport/kit/httpx"
)

// CrossOrigin reports whether r was sent by a page of another origin than
// the one it addresses. Browsers say so in Sec-Fetch-Site, which no page
// can set ("same-site" covers another port of the same host, which cookies
// do not tell apart), trusted even behind a proxy that rewrites Host;
// without it (older browsers) Origin is compared with Host. A request with
// neither (curl, native clients) is no visitor's browser being abused.
func CrossOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return false
	case "":
	default:
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return true // "null" (sandboxed frames, file://) and garbage
	}
	return !strings.EqualFold(u.Host, r.Host)
}

// Hosts are the names the admin API answers to. A page on a name the
// attacker controls that resolves to this server (DNS rebinding) is the
// attacker's origin, with the server's answers readable: its requests
// carry that name in Host, so a name not listed here is refused.
type Hosts struct {
	any   bool
	names map[string]bool
}

// NewHosts allows IP literals (a page's origin is then the server's own),
// localhost, the listen address's host and the names given
// (admin.hosts, for a deployment behind a proxy; "*" allows any).
func NewHosts(listen string, names []string) Hosts {
	h := Hosts{names: map[string]bool{"localhost": true}}
	if host, _, err := net.SplitHostPort(listen); err == nil && host != "" {
		h.names[hostname(host)] = true
	}
	for _, n := range names {
		if n == "*" {
			h.any = true
		}
		h.names[hostname(n)] = true
	}
	return h
}

// hostname is a Host header's name in lower case, without port, brackets
// or trailing dot.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
}

// Allowed reports whether host (a Host header) names this server.
func (h Hosts) Allowed(host string) bool {
	if h.any || host == "" {
		return true
	}
	name := hostname(host)
	return net.ParseIP(name) != nil || h.names[name]
}

// Check refuses a request whose Host is not one of h's names with 421,
// before next sees it: the dashboard's page, which anyone may link to.
func (h Hosts) Check(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.Allowed(r.Host) {
			httpx.WriteError(w, http.StatusMisdirectedRequest, "unknown_host", "host "+quote.Cut(r.Host)+
				" is not a name of this server; list it in admin.hosts to reach the admin API by it")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SameOrigin admits only requests addressed to one of hosts' names and not
// sent by a page of another origin: the admin API and the dashboard's
// sign-in answer their own page alone, whatever cors.origins allows the
// public routes (which is why the CORS headers leave them out).
func SameOrigin(hosts Hosts) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return hosts.Check(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if CrossOrigin(r) {
				httpx.WriteError(w, http.StatusForbidden, "cross_origin",
					"the admin API answers only the dashboard's own origin, whatever cors.origins says")
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}
