// Package quote quotes client-supplied text (topics, origins, paths) in
// error messages and log lines without echoing all of it: a 100 KB invalid
// topic must not come back whole in a 400 body or fill a log.
package quote

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Max is how many bytes of the input a quotation keeps.
const Max = 128

// Cut returns s quoted as %q does, its first Max bytes only (cut at a rune
// boundary) followed by "…" when it was longer.
func Cut(s string) string {
	return strconv.Quote(Truncate(s, Max))
}

// Truncate returns s if it is at most max bytes, else its first max bytes
// (backing off to a rune boundary) and "…".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// URL returns s with the password of its user info replaced by "xxxxx"
// (url.URL.Redacted), even when s does not parse, for a URL shown in a log line, an error or the
// admin API; any other s as it is.
func URL(s string) string {
	u, err := url.Parse(s)
	if err == nil {
		if _, ok := u.User.Password(); !ok {
			return s
		}
		return u.Redacted()
	}
	// Unparsable, but it may still hold user:password@ after the scheme.
	if _, rest, ok := strings.Cut(s, "://"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			return s[:len(s)-len(rest)] + "xxxxx" + rest[at:]
		}
	}
	return s
}

// URLs is URL of each of urls.
func URLs(urls []string) []string {
	out := make([]string, len(urls))
	for i, s := range urls {
		out[i] = URL(s)
	}
	return out
}
