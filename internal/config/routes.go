package config

import (
	"fmt"
	"strings"

	"streamhub/internal/core/topic"
	"streamhub/internal/media"
)

// Route maps a fixed URL path, the one a device's firmware or a page's
// snippet was written with, onto a topic or a media path.
type Route struct {
	Path  string `koanf:"path"`  // e.g. /stream, /stream.m3u8, /
	Kind  string `koanf:"kind"`  // RouteWS, RouteSSE, RoutePublish or RouteHLS
	Topic string `koanf:"topic"` // ws: the topic (a filter: receive only); sse: the filter; publish: the topic
	Media string `koanf:"media"` // hls: the media path, e.g. live/cam1
}

// Route kinds.
const (
	// RouteWS is the plain WebSocket of /v1/ws/{topic}: frames are
	// payloads both ways. Only upgrade requests are routed, so a route at
	// / leaves the dashboard to browsers.
	RouteWS = "ws"
	// RouteSSE is GET /v1/subscribe?topic=: SSE, or NDJSON by Accept.
	RouteSSE = "sse"
	// RoutePublish is POST /v1/publish/{topic}: each POST's body is one
	// message.
	RoutePublish = "publish"
	// RouteHLS redirects to the media path's /hls/PATH/index.m3u8.
	RouteHLS = "hls"
)

// reservedPaths are the server's own URLs, which a route may not shadow.
var reservedPaths = []string{"/v1/", "/hls/", "/dashboard/", "/debug/", "/mqtt", "/healthz", "/readyz", "/metrics", "/endpoints"}

// validateRoutes checks each route: a path of its own outside the
// server's, a known kind and what that kind needs.
func (c Config) validateRoutes() []error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range c.Routes {
		bad := func(format string, args ...any) {
			errs = append(errs, invalid("routes", "routes[%d] (path %q): %s", i, r.Path, fmt.Sprintf(format, args...)))
		}
		switch {
		case !strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path, "?#"):
			bad("path must start with / and have no query")
		case seen[r.Path]:
			bad("path routed twice")
		case reserved(r.Path):
			bad("path is one of the server's own (%s)", strings.Join(reservedPaths, ", "))
		}
		seen[r.Path] = true
		switch r.Kind {
		case RouteWS, RouteSSE, RoutePublish:
			check := topic.ValidateFilter
			if r.Kind == RoutePublish {
				check = topic.ValidateName
			}
			if err := check(r.Topic); err != nil {
				bad("topic: %v", err)
			}
			if r.Media != "" {
				bad("media is for kind hls")
			}
		case RouteHLS:
			if err := media.ValidatePath(r.Media); err != nil {
				bad("media: %v", err)
			}
			if r.Topic != "" {
				bad("topic is for kinds ws, sse and publish")
			}
		default:
			bad("kind %q: want %s, %s, %s or %s", r.Kind, RouteWS, RouteSSE, RoutePublish, RouteHLS)
		}
	}
	return errs
}

func reserved(path string) bool {
	for _, p := range reservedPaths {
		if path == strings.TrimSuffix(p, "/") || strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
