package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestOriginEveryRoute: one allow-list, applied alike to every HTTP route:
// a page of another site may neither publish nor subscribe nor open a
// WebSocket, a wildcard entry works on every route, and requests without
// Origin (curl, native clients) or from the server's own origin pass.
func TestOriginEveryRoute(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, func(c *config.Config) {
		c.CORS.Origins = []string{"https://app.example", "*.example.com"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	origins := map[string]bool{
		"":                            true,
		"https://app.example":         true,
		"https://sub.example.com":     true, // host wildcard
		"http://" + s.Addr():          true, // same origin
		"https://evil.example":        false,
		"https://example.com.evil.io": false,
		"null":                        false,
	}
	httpRoutes := []struct{ method, path string }{
		{http.MethodPost, "/v1/publish/home/alice/x"},
		{http.MethodPost, "/v1/publish?topic=home/alice/x"},
		{http.MethodGet, "/v1/subscribe?topic=a"},
		{http.MethodGet, "/v1/subscribe?topic=a&format=ndjson"},
		{http.MethodGet, "/v1/poll?topic=a&timeout=0"},
	}
	for origin, allowed := range origins {
		for _, route := range httpRoutes {
			req, _ := http.NewRequestWithContext(ctx, route.method, s.URL+route.path, strings.NewReader("x"))
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if allowed != (resp.StatusCode == http.StatusOK) || !allowed && resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s from origin %q answered %d, want allowed=%v", route.method, route.path, origin, resp.StatusCode, allowed)
			}
		}
		for _, path := range []string{"/v1/ws", "/v1/ws/home/alice/x", "/mqtt"} {
			opts := &websocket.DialOptions{HTTPHeader: http.Header{}, Subprotocols: []string{"mqtt"}}
			if origin != "" {
				opts.HTTPHeader.Set("Origin", origin)
			}
			c, resp, err := websocket.Dial(ctx, s.WSURL+path, opts)
			if c != nil {
				c.CloseNow()
			}
			switch {
			case allowed && err != nil:
				t.Errorf("WebSocket %s from origin %q refused: %v", path, origin, err)
			case !allowed && (resp == nil || resp.StatusCode != http.StatusForbidden):
				t.Errorf("WebSocket %s from origin %q not refused with 403: %v", path, origin, err)
			}
		}
	}
}
