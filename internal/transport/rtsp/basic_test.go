package rtsp

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		header, user, pass string
		ok                 bool
	}{
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("cam:p:w")), "cam", "p:w", true},
		{"basic " + base64.StdEncoding.EncodeToString([]byte("cam:")), "cam", "", true},
		{"Digest username=\"cam\"", "", "", false},
		{"Basic !!!", "", "", false},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "", "", false},
		{"", "", "", false},
	} {
		user, pass, ok := basicAuth(c.header)
		if user != c.user || pass != c.pass || ok != c.ok {
			t.Errorf("%q: got %q %q %v", c.header, user, pass, ok)
		}
	}
}

// FuzzBasicAuth: any header parses without panicking, and what is
// accepted round-trips.
func FuzzBasicAuth(f *testing.F) {
	f.Add("Basic Y2FtOnB3")
	f.Add("Basic ")
	f.Add("Digest x")
	f.Fuzz(func(t *testing.T, header string) {
		user, pass, ok := basicAuth(header)
		if !ok {
			return
		}
		if strings.Contains(user, ":") {
			t.Fatalf("user %q holds a colon", user)
		}
		_ = pass
	})
}
