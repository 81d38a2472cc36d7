package config

import (
	"net/url"
	"strings"
)

// validate checks auth.http's keys, each problem a KeyError; without a
// url the others are not used.
func (h AuthHTTP) validate() []error {
	if h.URL == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, invalid("auth.http.url", "auth.http.url %q: want an http:// or https:// URL", h.URL))
	}
	if h.Timeout <= 0 {
		errs = append(errs, invalid("auth.http.timeout", "auth.http.timeout must be positive"))
	}
	if h.Cache < 0 || h.Denycache < 0 || h.Cachesize < 0 {
		errs = append(errs, invalid("auth.http.cache", "auth.http.cache, denycache and cachesize must not be negative"))
	}
	if h.Fail != "closed" && h.Fail != "open" {
		errs = append(errs, invalid("auth.http.fail", "auth.http.fail is %q: want closed or open", h.Fail))
	}
	for _, line := range h.Headers {
		if name, _, ok := strings.Cut(line, ":"); !ok || strings.TrimSpace(name) == "" {
			errs = append(errs, invalid("auth.http.headers", "auth.http.headers: %q: want \"Name: value\"", line))
		}
	}
	return errs
}
