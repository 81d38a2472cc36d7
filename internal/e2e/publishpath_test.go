package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"streamhub/internal/testkit"
)

// TestPublishPathNotCleaned: a topic path with empty levels is not
// redirected to another topic (curl -L would publish there) but refused
// with a pointer to ?topic=, which publishes it as it is; other methods on
// a publish URL answer 405 with Allow.
func TestPublishPathNotCleaned(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/v1/publish/a//b", "/v1/publish/a/./b", "/v1/publish/a/../b"} {
		resp, err := noRedirect.Post(s.URL+p, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "?topic=") {
			t.Errorf("POST %s: %d %s, want 400 naming ?topic=", p, resp.StatusCode, body)
		}
	}
	resp, err := noRedirect.Post(s.URL+"/v1/publish?topic="+url.QueryEscape("a//b"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Topic string }
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || res.Topic != "a//b" {
		t.Errorf("POST ?topic=a//b: %d, topic %q", resp.StatusCode, res.Topic)
	}
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		for _, p := range []string{"/v1/publish/x", "/v1/publish"} {
			req, _ := http.NewRequest(method, s.URL+p, nil)
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			checkErrorBody(t, method+" "+p, resp)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
				t.Errorf("%s %s: %d Allow %q, want 405 Allow POST", method, p, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
}
