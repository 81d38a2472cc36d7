package server

import (
	"net/http"
	"strings"

	"streamhub/internal/transport/kit/httpx"
)

// cors answers preflights and marks responses readable by the allowed
// origins; "*" allows any. The admin API is never shared with other
// origins (admin.SameOrigin refuses them).
func cors(origins httpx.Origins, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && origins.Listed(origin) && !strings.HasPrefix(r.URL.Path, "/v1/admin/") {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			// Location, Link and Streamhub-Note: WebRTC's session and ICE servers, WHEP's left-out tracks.
			h.Set("Access-Control-Expose-Headers", "Streamhub-Cursor, Streamhub-Gap, Location, Link, Streamhub-Note")
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
				if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					h.Set("Access-Control-Allow-Headers", req)
				}
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
