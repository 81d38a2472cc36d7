package server

import (
	_ "embed"
	"html/template"
	"net"
	"net/http"
	"strings"

	"streamhub/internal/quote"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/transport/ws"
)

// indexPage lists the endpoints with examples that work as they are,
// until a dashboard exists. It loads nothing from elsewhere.
//
//go:embed index.html
var indexPage string

var indexTemplate = template.Must(template.New("index").Parse(indexPage))

// indexData is what the page's examples are built from: the address the
// visitor reached (so that examples work from where they are), and the
// MQTT listeners' ports on that host.
type indexData struct {
	Version     string
	HTTP, WS    string // http(s)://host[:port], ws(s)://host[:port]
	MQTT, MQTTS string // mqtt(s)://host:port, "" when not listening
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	d := indexData{Version: Version, HTTP: scheme + "://" + host, WS: strings.Replace(scheme, "http", "ws", 1) + "://" + host,
		MQTT: s.mqttURL("mqtt", "mqtt", hostname), MQTTS: s.mqttURL("mqtts", "mqtts", hostname)}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := indexTemplate.Execute(w, d); err != nil {
		s.log.Debug("index page", "err", err)
	}
}

// mqttURL is scheme://hostname:port of the MQTT listener kind, or "".
func (s *Server) mqttURL(kind, scheme, hostname string) string {
	addr := s.mqtt.Addr(kind)
	if addr == nil {
		return ""
	}
	_, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	return scheme + "://" + net.JoinHostPort(hostname, port)
}

// notFound answers what no route serves, pointing at what might: the index
// page for everything, /v1/ws for a WebSocket, a word on HLS.
func notFound(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		ws.RefuseAfterUpgrade(w, r, "no WebSocket at "+quote.Truncate(r.URL.Path, 24)+
			": use /v1/ws/{topic} (payload frames), /v1/ws (JSON) or a routes: entry; see /")
	case strings.HasSuffix(r.URL.Path, ".m3u8"):
		httpx.WriteError(w, http.StatusNotFound, "hls_not_served",
			"no HLS playlist at "+quote.Cut(r.URL.Path)+": a media path's is /hls/PATH/index.m3u8 (GET /v1/media lists them), "+
				"or map this URL to one with routes: in the configuration")
	default:
		httpx.WriteError(w, http.StatusNotFound, "not_found",
			"no route for "+r.Method+" "+quote.Cut(r.URL.Path)+"; see / for the endpoints and docs/PROTOCOLS.md")
	}
}
