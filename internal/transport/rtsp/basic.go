package rtsp

import (
	"encoding/base64"
	"net/url"
	"strings"
)

// basicAuth parses an RTSP Authorization header of the Basic scheme.
func basicAuth(header string) (user, pass string, ok bool) {
	scheme, creds, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	if !ok {
		return "", "", false
	}
	return user, pass, true
}

func queryValue(query, key string) string {
	q, err := url.ParseQuery(query)
	if err != nil {
		return ""
	}
	return q.Get(key)
}
