package admin

import (
	"net/http/httptest"
	"testing"
)

// TestCrossOrigin: Sec-Fetch-Site decides when a browser sent it (even
// against an Origin a proxy's Host rewrite made look foreign); otherwise
// Origin is compared with Host, ports included.
func TestCrossOrigin(t *testing.T) {
	for _, c := range []struct {
		host, site, origin string
		cross              bool
	}{
		{"127.0.0.1:8080", "", "", false},
		{"127.0.0.1:8080", "same-origin", "https://hub.example", false},
		{"127.0.0.1:8080", "none", "", false},
		{"127.0.0.1:8080", "same-site", "", true},
		{"127.0.0.1:8080", "cross-site", "", true},
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080", false},
		{"127.0.0.1:8080", "", "http://127.0.0.1:9090", true},
		{"127.0.0.1:8080", "", "null", true},
		{"hub.example", "", "https://HUB.example", false},
	} {
		r := httptest.NewRequest("GET", "http://"+c.host+"/v1/admin/stats", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := CrossOrigin(r); got != c.cross {
			t.Errorf("Host %s, Sec-Fetch-Site %q, Origin %q: cross %v, want %v", c.host, c.site, c.origin, got, c.cross)
		}
	}
}

// TestHostsAllowed: IP literals, localhost, the listen address's name and
// admin.hosts pass; other names (DNS rebinding) do not.
func TestHostsAllowed(t *testing.T) {
	h := NewHosts("broker.lan:8080", []string{"Hub.Example."})
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "10.1.2.3": true, "localhost:8080": true,
		"broker.lan:8080": true, "hub.example": true, "hub.example:443": true,
		"evil.example": false, "evil.example:8080": false, "127.0.0.1.evil.example": false,
	} {
		if got := h.Allowed(host); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", host, got, want)
		}
	}
	if !NewHosts("127.0.0.1:8080", []string{"*"}).Allowed("anything.example") {
		t.Error(`"*" does not allow any host`)
	}
}
