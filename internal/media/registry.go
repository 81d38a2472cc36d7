package media

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/core/message"
	"streamhub/internal/registry"
	"streamhub/internal/tlsconf"
)

// StateSink is where path states go: the hub, as retained messages.
type StateSink interface {
	Publish(ctx context.Context, m *message.Message) (message.Cursor, error)
}

// Observer counts what readers lose: frames skipped to catch up.
type Observer interface {
	MediaSkipped(protocol string, frames int)
}

// Config bounds each reader's queue and says whether a second publisher
// takes a path over.
type Config struct {
	QueueFrames int
	QueueBytes  int
	// Takeover lets a new publisher replace the current one (an encoder
	// that reconnects before its old connection timed out); otherwise the
	// newcomer is refused with ErrBusy.
	Takeover bool
	// StateInterval is how often an online path's state (bitrate) is
	// republished; 0 republishes only on changes.
	StateInterval time.Duration
	// Cluster spreads paths over the nodes of a cluster; nil on a node
	// alone.
	Cluster Cluster
	// Recorded says what is recorded of a path, for its state; nil when
	// nothing is recorded.
	Recorded func(path string) (Recorded, bool)
}

// Cluster makes a path published on one node of a cluster the only one of
// its name and readable on every node.
type Cluster interface {
	// Claim makes this node the path's one publisher in the cluster
	// (ErrBusy when another node's publisher has it) and serves its frames
	// to nodes that want them, until release.
	Claim(name string, tracks []Track) (release func(), err error)
	// Fetch makes name local, fed by the node that publishes it
	// (PublishRemote), for as long as it has readers here; ErrNotFound
	// (wrapped) when no node publishes it.
	Fetch(name string) error
}

// Registry holds the media paths. Lock order: Registry.mu, then path.mu,
// then Reader.mu.
type Registry struct {
	cfg     Config
	sink    StateSink
	observe Observer
	log     *slog.Logger

	mu     sync.Mutex
	paths  map[string]*path
	closed bool
	stop   chan struct{}
	done   sync.WaitGroup
}

// New builds an empty registry; Close stops it.
func New(cfg Config, sink StateSink, observe Observer, log *slog.Logger) *Registry {
	if cfg.QueueFrames <= 0 {
		cfg.QueueFrames = 1024
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 16 << 20
	}
	r := &Registry{cfg: cfg, sink: sink, observe: observe, log: log, paths: map[string]*path{}, stop: make(chan struct{})}
	if cfg.StateInterval > 0 {
		r.done.Add(1)
		go r.republish()
	}
	return r
}

// Publish makes the caller the publisher of name with these tracks.
func (r *Registry) Publish(name, protocol string, tracks []Track) (*Publisher, error) {
	if err := ValidatePath(name); err != nil {
		return nil, err
	}
	if len(tracks) == 0 {
		return nil, ErrNoTracks
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	old := r.paths[name]
	if old != nil && !r.cfg.Takeover && !old.remote {
		r.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrBusy, name)
	}
	r.mu.Unlock()
	p := newPath(r, name, protocol, tracks)
	if r.cfg.Cluster != nil {
		release, err := r.cfg.Cluster.Claim(name, tracks)
		if err != nil {
			return nil, err
		}
		p.release = release
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		p.end()
		return nil, ErrClosed
	}
	old = r.paths[name]
	if old != nil && !r.cfg.Takeover && !old.remote {
		r.mu.Unlock()
		p.end()
		return nil, fmt.Errorf("%w: %s", ErrBusy, name)
	}
	r.paths[name] = p
	r.mu.Unlock()
	if old != nil {
		old.end()
		r.log.Info("media path taken over", "path", name, "protocol", protocol)
	}
	r.log.Info("media path online", "path", name, "protocol", protocol, "tracks", len(tracks))
	p.announce()
	return &Publisher{path: p}, nil
}

// PublishRemote makes name a local copy of a path another node of the
// cluster publishes (see Cluster.Fetch): readers here read it as any
// path, its state is left to the publishing node, and stop (called once
// when the copy ends) stops its feed. ErrBusy if name is already here.
func (r *Registry) PublishRemote(name string, tracks []Track, stop func()) (*Publisher, error) {
	if len(tracks) == 0 {
		return nil, ErrNoTracks
	}
	p := newPath(r, name, "cluster", tracks)
	p.remote, p.release = true, stop
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if r.paths[name] != nil {
		return nil, fmt.Errorf("%w: %s", ErrBusy, name)
	}
	r.paths[name] = p
	return &Publisher{path: p}, nil
}

// Read adds a reader to the path name, which must have a publisher.
func (r *Registry) Read(name, protocol string) (*Reader, error) {
	return r.read(name, protocol, false)
}

// ReadLocal adds a reader to a path published on this node, never
// fetching it from another (the cluster's own reader, which sends the
// frames to other nodes).
func (r *Registry) ReadLocal(name, protocol string) (*Reader, error) {
	p := r.lookup(name)
	if p == nil || p.remote {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	rd, err := p.addReader(protocol, false)
	if err != nil {
		return nil, err
	}
	p.announce()
	return rd, nil
}

// ReadShared adds a reader that a transport fans out to peers of its own
// (RTSP's one RTP stream for all its sessions, HLS's one muxer for all
// its clients): it counts in the path's readers as the peers that Join
// it, so zero until one does.
func (r *Registry) ReadShared(name, protocol string) (*Reader, error) {
	return r.read(name, protocol, true)
}

func (r *Registry) read(name, protocol string, shared bool) (*Reader, error) {
	p := r.lookup(name)
	if p == nil && r.cfg.Cluster != nil {
		if err := ValidatePath(name); err != nil { // before it reaches NATS
			return nil, err
		}
		if err := r.cfg.Cluster.Fetch(name); err != nil {
			return nil, err
		}
		p = r.lookup(name)
	}
	if p == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	rd, err := p.addReader(protocol, shared)
	if err != nil {
		return nil, err
	}
	if !shared {
		p.announce()
	}
	return rd, nil
}

// PublishOffline publishes name's state as offline, unless this node
// publishes it: its publisher's node died without saying so (each
// surviving node of a cluster says it, the same retained message).
func (r *Registry) PublishOffline(name string) {
	if p := r.lookup(name); p != nil && !p.remote {
		return
	}
	r.publishState(State{Path: name, Online: false, Readers: map[string]int{}})
}

func (r *Registry) lookup(name string) *path {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paths[name]
}

// List returns the state of every path published on this node, sorted by
// path (local copies of other nodes' paths are theirs to list).
func (r *Registry) List() []State {
	r.mu.Lock()
	paths := make([]*path, 0, len(r.paths))
	for _, p := range r.paths {
		if !p.remote {
			paths = append(paths, p)
		}
	}
	r.mu.Unlock()
	states := make([]State, 0, len(paths))
	for _, p := range paths {
		states = append(states, p.state())
	}
	slices.SortFunc(states, func(a, b State) int { return strings.Compare(a.Path, b.Path) })
	return states
}

// Close ends every path (readers are told) and stops republishing.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	paths := r.paths
	r.paths = map[string]*path{}
	r.mu.Unlock()
	close(r.stop)
	r.done.Wait()
	for _, p := range paths {
		p.end()
	}
}

// remove takes p out of the registry if it is still the path's current
// publisher (a takeover already replaced it otherwise).
func (r *Registry) remove(p *path) {
	r.mu.Lock()
	current := r.paths[p.name] == p
	if current {
		delete(r.paths, p.name)
	}
	r.mu.Unlock()
	if current && !p.remote {
		r.publishState(State{Path: p.name, Online: false, Readers: map[string]int{}})
		r.log.Info("media path offline", "path", p.name)
	}
}

func (r *Registry) republish() {
	defer r.done.Done()
	t := time.NewTicker(r.cfg.StateInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			for _, st := range r.List() {
				r.publishState(st)
			}
		}
	}
}

// Paths is what a transport that both publishes and reads needs from the
// registry (RTMP, RTSP); tests may stand a fake behind it.
type Paths interface {
	Publish(name, protocol string, tracks []Track) (*Publisher, error)
	Read(name, protocol string) (*Reader, error)
	ReadShared(name, protocol string) (*Reader, error)
}

var _ Paths = (*Registry)(nil)

// ListenerConfig configures a media transport with a listener of its own
// (RTMP, RTSP).
type ListenerConfig struct {
	Addr string // empty disables
	// Timeout bounds the handshake, each read from a publisher and each
	// write to a reader.
	Timeout time.Duration
	Policy  *auth.Policy
	// Admit wraps the listener with the server's admission: connection
	// limits, counts, accept errors retried (acceptloop.Admission), and
	// refuse (nil: close) answering a connection over the limits; nil
	// serves the listener as it is.
	Admit func(ln net.Listener, refuse func(net.Conn, error)) net.Listener
	// Registry lists each publisher and reader for the admin API, which
	// can kick them (nil: not listed).
	Registry *registry.Registry
	// TLS, when set, serves the listener over TLS (RTMPS, RTSPS), above
	// the admission: Admit must run its refusals' TLS handshake too
	// (acceptloop.Admission.TLS).
	TLS *tls.Config
}

// Listener is ln with cfg's admission, refusing with refuse, under TLS
// when cfg has it.
func (cfg ListenerConfig) Listener(ln net.Listener, refuse func(net.Conn, error)) net.Listener {
	if cfg.Admit != nil {
		ln = cfg.Admit(ln, refuse)
	}
	if cfg.TLS != nil {
		ln = tlsconf.NewListener(ln, cfg.TLS)
	}
	return ln
}
