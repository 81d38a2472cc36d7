package hls

import (
	"net"
	"net/http"
	"sync"
	"time"

	"streamhub/internal/auth"
)

// HLS has no connection to count: players fetch a playlist and segments
// over whatever HTTP connections they like. A reader is therefore one
// client address and identity asking for a path, counted among the path's
// readers and listed for the admin API from its first request until it
// has made none for the idle time; players behind one address (a NAT)
// count as one. Kicking it refuses its requests for that path with 403
// for the idle time.

// viewerKey identifies one HLS reader of a path.
type viewerKey struct{ host, user string }

type viewer struct {
	seen          time.Time // last request; the kick, once kicked
	kicked        bool
	leave, unlist func()
}

// viewers are a muxer's readers.
type viewers struct {
	mu     sync.Mutex
	all    map[viewerKey]*viewer
	closed bool // the muxer ended: a last request is served, not counted
}

// visit records a request of the path's muxer m; false when that reader
// was kicked.
func (m *muxer) visit(r *http.Request, id *auth.Identity) bool {
	key := viewerKey{host: r.RemoteAddr}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		key.host = host
	}
	if id != nil {
		key.user = id.User
	}
	vs := &m.viewers
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.closed {
		return true
	}
	v := vs.all[key]
	if v == nil {
		v = &viewer{leave: m.reader.Join()}
		v.unlist = m.server.cfg.Registry.AddMedia(id, "hls", r.RemoteAddr, m.reader.Path(), false, func() { m.kick(key) })
		vs.all[key] = v
	}
	if v.kicked {
		return false
	}
	v.seen = time.Now()
	return true
}

// kick ends a reader's listing and refuses it for the idle time.
func (m *muxer) kick(key viewerKey) {
	vs := &m.viewers
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if v := vs.all[key]; v != nil && !v.kicked {
		v.kicked, v.seen = true, time.Now()
		v.leave()
		v.unlist()
	}
}

// expire drops the readers (and kicks) older than idle, or all of them
// for good when the muxer ends.
func (m *muxer) expire(idle time.Duration, all bool) {
	vs := &m.viewers
	vs.mu.Lock()
	defer vs.mu.Unlock()
	vs.closed = vs.closed || all
	for key, v := range vs.all {
		if !all && time.Since(v.seen) <= idle {
			continue
		}
		if !v.kicked {
			v.leave()
			v.unlist()
		}
		delete(vs.all, key)
	}
}
