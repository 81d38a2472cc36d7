// Package dashboard is streamhub's live web console: plain HTML, CSS and
// JavaScript written here and embedded in the binary (no build step,
// nothing fetched from elsewhere). It reads the admin API and follows live
// numbers and tails over the server's own WebSocket.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// files is the static directory itself.
var files, _ = fs.Sub(static, "static")

// Page serves the dashboard page (at /).
func Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, err := fs.ReadFile(files, "index.html")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		header(w, "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
}

// Assets serves the page's scripts and style sheet under /dashboard/.
func Assets() http.Handler {
	fileServer := http.StripPrefix("/dashboard/", http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header(w, "")
		fileServer.ServeHTTP(w, r)
	})
}

// header sets what every dashboard response carries: no caching (the
// binary's version is the page's), and a policy that lets the page load
// only its own scripts and talk only to its own origin.
func header(w http.ResponseWriter, contentType string) {
	h := w.Header()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
}
