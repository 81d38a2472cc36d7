package quote

import (
	"strings"
	"testing"
)

func TestCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"a/b", `"a/b"`},
		{strings.Repeat("x", Max), `"` + strings.Repeat("x", Max) + `"`},
		{strings.Repeat("x", Max+1), `"` + strings.Repeat("x", Max) + `…"`},
		// A rune across the cut is left out whole, not split.
		{strings.Repeat("x", Max-1) + "é", `"` + strings.Repeat("x", Max-1) + `…"`},
	} {
		if got := Cut(tc.in); got != tc.want {
			t.Errorf("Cut(%d bytes) = %s, want %s", len(tc.in), got, tc.want)
		}
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"nats://user:pw@host:4222", "nats://user:xxxxx@host:4222"},
		{"nats://user@host:4222", "nats://user@host:4222"},
		{"nats://host:4222", "nats://host:4222"},
		{"not a url: %zz", "not a url: %zz"},
	} {
		if got := URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
