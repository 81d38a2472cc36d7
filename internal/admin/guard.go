package admin

import (
	"net"
	"net/http"

	"streamhub/internal/auth"
	"streamhub/internal/transport/kit/httpx"
)

// Guard admits a request to the dashboard and the admin API. With auth on
// (open false) its identity needs the admin role. With auth off nobody is
// identified, so only a request that arrived on a loopback listener is
// admitted, unless public says the operator wants it served to anyone.
func Guard(open, public bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if status, code, msg := refusal(r, open, public); status != 0 {
				httpx.WriteError(w, status, code, msg)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// PageGuard admits a request to the dashboard's page and assets, which hold
// no data: with auth on anyone may load them (the page then asks to sign
// in); with auth off they are served as the API is.
func PageGuard(open, public bool) func(http.Handler) http.Handler {
	if !open {
		return func(next http.Handler) http.Handler { return next }
	}
	return Guard(open, public)
}

// refusal is why r may not use the admin API (status 0: it may).
func refusal(r *http.Request, open, public bool) (status int, code, msg string) {
	if open {
		if public || arrivedOnLoopback(r) {
			return 0, "", ""
		}
		return http.StatusForbidden, "admin_not_public",
			"the admin API and dashboard are served on loopback listeners only while auth is off; set admin.public: true to serve them here"
	}
	id := auth.FromContext(r.Context())
	switch {
	case id.Admin():
		return 0, "", ""
	case id.Anonymous:
		return http.StatusUnauthorized, "unauthorized", "the admin API needs credentials of the admin role"
	}
	return http.StatusForbidden, "forbidden", "the admin API needs the admin role"
}

// arrivedOnLoopback reports whether the connection's local address (the
// listener's side) is a loopback address.
func arrivedOnLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// requester names who made an admin request, for the log.
func requester(r *http.Request) string {
	if id := auth.FromContext(r.Context()); !id.Anonymous {
		return id.User
	}
	return "anonymous@" + r.RemoteAddr
}
