package httpx

import (
	"net/http/httptest"
	"testing"
)

func TestOriginsAllowed(t *testing.T) {
	t.Parallel()
	o := NewOrigins([]string{"https://App.example", "*.example.com", "localhost:*"})
	for origin, want := range map[string]bool{
		"":                           true,
		"http://streamhub.test:8080": true, // same origin as the request's Host
		"https://app.example":        true,
		"http://app.example":         false, // scheme given in the pattern
		"https://a.example.com":      true,
		"http://a.b.example.com":     true, // any depth below example.com
		"https://example.com":        false,
		"http://localhost:3000":      true,
		"https://evil.example":       false,
		"null":                       false,
		"::bad":                      false,
	} {
		r := httptest.NewRequest("GET", "http://streamhub.test:8080/v1/publish/a", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := o.Allowed(r); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", origin, got, want)
		}
	}
	if !NewOrigins([]string{"*"}).Listed("null") {
		t.Error(`"*" does not list every origin`)
	}
}
