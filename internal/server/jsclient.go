package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	jsclient "streamhub/clients/js"
)

// jsClientFiles are the browser client's files (clients/js), served as
// they are. They are public code: no credentials are asked for them
// (authenticate lets them through), so a page can load them before it has
// a token.
var jsClientFiles = map[string]struct {
	body        []byte
	contentType string
}{
	"/v1/streamhub.js":     {jsclient.Module, "text/javascript; charset=utf-8"},
	"/v1/streamhub.umd.js": {jsclient.Classic, "text/javascript; charset=utf-8"},
	"/v1/streamhub.d.ts":   {jsclient.Types, "text/plain; charset=utf-8"},
	"/v1/peer.js":          {jsclient.Peer, "text/javascript; charset=utf-8"},
}

// isJSClientPath says whether path is one of the client's files.
func isJSClientPath(path string) bool {
	_, ok := jsClientFiles[path]
	return ok
}

// mountJSClient serves the client's files. Their ETag is their content's
// hash, so a browser revalidates after an hour and gets 304 until the
// server's version changes.
func mountJSClient(mux *http.ServeMux) {
	for path, f := range jsClientFiles {
		sum := sha256.Sum256(f.body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", f.contentType)
			h.Set("Cache-Control", "public, max-age=3600")
			h.Set("ETag", etag)
			h.Set("X-Content-Type-Options", "nosniff")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
		})
	}
}
