package server

import (
	"net/http"
	"path"
	"strings"

	"streamhub/internal/transport/kit/httpx"
)

// refuseUncleanPaths answers 400 to /v1/ paths with empty, "." or ".."
// levels. net/http's ServeMux would redirect them (307) to the cleaned
// path, and a topic is part of the path: `curl -L` would then publish to
// another topic. Topics with empty levels are legal; ?topic= carries them.
func refuseUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if !strings.HasPrefix(p, "/v1/") || p == cleanPath(p) {
			next.ServeHTTP(w, r)
			return
		}
		msg := "the path has empty, \".\" or \"..\" levels, which would name another topic; " +
			"pass such a topic as ?topic=, e.g. POST /v1/publish?topic=a%2F%2Fb for a//b"
		if strings.HasPrefix(p, "/v1/subscribe") || strings.HasPrefix(p, "/v1/poll") || strings.HasPrefix(p, "/v1/ws") {
			msg = "the path has empty, \".\" or \"..\" levels, which would name another topic; " +
				"pass such a filter as ?topic="
		}
		httpx.WriteError(w, http.StatusBadRequest, "invalid_path", msg)
	})
}

// cleanPath is the path ServeMux would redirect to.
func cleanPath(p string) string {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// methodNotAllowed answers a known path asked with another method: 405,
// naming the methods it takes.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		httpx.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			r.Method+" is not served here; use "+allow)
	})
}
