package hls

import (
	"errors"
	"html/template"
	"net/http"
)

var errNoTracks = errors.New("hls: the path has no track this HLS variant can carry")

// page is the seed's own snippet: a <video> whose src is the playlist,
// which browsers with native HLS play without a player library. The
// query (a ?token=) is passed on to the playlist.
var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>streamhub: {{.Path}}</title>
<style>html,body{margin:0;background:#000;height:100%}video{width:100%;height:100%}</style></head>
<body><video src="{{.Src}}" autoplay muted playsinline controls></video>
<script>
// Chromium's native HLS player gives up for good when the playlist is gone
// (the publisher restarting), so the page tries again until it plays.
const video = document.querySelector('video');
video.addEventListener('error', () => setTimeout(() => video.load(), 1000));
</script></body></html>
`))

func servePage(w http.ResponseWriter, r *http.Request) {
	src := "index.m3u8"
	if r.URL.RawQuery != "" {
		src += "?" + r.URL.RawQuery
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	page.Execute(w, struct{ Path, Src string }{r.URL.Path, src}) //nolint:errcheck // the client went away
}
