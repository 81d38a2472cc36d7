package e2e

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	jsclient "streamhub/clients/js"
	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestJSClientServed: the binary serves streamhub.js and its classic build
// as they are in clients/js, as JavaScript, cacheable and revalidated by
// ETag, and without credentials on a server that needs them elsewhere.
func TestJSClientServed(t *testing.T) {
	s := testkit.Start(t, func(c *config.Config) {
		c.Auth.Required, c.Auth.JWT.Secret = true, "0123456789abcdef0123456789abcdef"
	})
	for path, want := range map[string][]byte{
		"/v1/streamhub.js":     jsclient.Module,
		"/v1/streamhub.umd.js": jsclient.Classic,
		"/v1/streamhub.d.ts":   jsclient.Types,
	} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Fatalf("GET %s: %s, %d bytes, want 200 and the %d bytes in clients/js", path, resp.Status, len(body), len(want))
		}
		ct, cc, etag := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), resp.Header.Get("ETag")
		if path != "/v1/streamhub.d.ts" && ct != "text/javascript; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if cc == "" || etag == "" {
			t.Errorf("GET %s: Cache-Control %q, ETag %q", path, cc, etag)
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: %s, want 304", path, resp.Status)
		}
	}
	// The rest of /v1/ still asks for credentials.
	resp, err := http.Get(s.URL + "/v1/poll?topic=a&timeout=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("poll without credentials: %s, want 401", resp.Status)
	}
}
