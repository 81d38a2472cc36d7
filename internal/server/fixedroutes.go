package server

import (
	"net/http"
	"net/url"
	"strings"

	"streamhub/internal/config"
	"streamhub/internal/transport/hls"
)

// fixedRoutes serves the configured routes (config.Route): URLs written
// into a device's firmware or a page's snippet, mapped onto the endpoint
// of a topic or media path. Each is served by that endpoint's own handler,
// behind the same authentication, origin check and rights; a request a
// route does not take (a plain GET of a WebSocket route such as /) goes on
// to next.
func (s *Server) fixedRoutes(next, plainWS, subscribe, publish http.Handler) http.Handler {
	if len(s.cfg.Routes) == 0 {
		return next
	}
	// Routes are outside /v1/, which authenticate leaves alone.
	plainWS, subscribe, publish = s.identify(plainWS), s.identify(subscribe), s.identify(publish)
	byPath := make(map[string]config.Route, len(s.cfg.Routes))
	for _, rt := range s.cfg.Routes {
		byPath[rt.Path] = rt
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := byPath[r.URL.Path]
		if !ok || r.Method != http.MethodGet && rt.Kind != config.RoutePublish {
			next.ServeHTTP(w, r)
			return
		}
		switch rt.Kind {
		case config.RoutePublish:
			if r.Method != http.MethodPost {
				next.ServeHTTP(w, r)
				return
			}
			r.SetPathValue("topic", rt.Topic)
			publish.ServeHTTP(w, r)
		case config.RouteWS:
			if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
				next.ServeHTTP(w, r)
				return
			}
			r.SetPathValue("topic", rt.Topic)
			plainWS.ServeHTTP(w, r)
		case config.RouteSSE:
			q := r.URL.Query()
			q.Set("topic", rt.Topic)
			r2 := r.Clone(r.Context())
			r2.URL.RawQuery = q.Encode()
			subscribe.ServeHTTP(w, r2)
		case config.RouteHLS:
			// A redirect, not the playlist itself: the playlist's URIs are
			// relative to /hls/PATH/, which players resolve against the
			// URL they were redirected to.
			target := url.URL{Path: hls.Prefix + rt.Media + "/index.m3u8", RawQuery: r.URL.RawQuery}
			http.Redirect(w, r, target.String(), http.StatusFound)
		default:
			next.ServeHTTP(w, r)
		}
	})
}
