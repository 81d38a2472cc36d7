package cluster

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"streamhub/internal/media"
)

// Media makes media paths cluster-wide (docs/CLUSTER.md, "Media across
// nodes"): a path's publisher holds a claim in a JetStream KV bucket
// (<PREFIX>_MEDIA_PATHS) that expires unless its node refreshes it, so one
// node publishes a path at a time and a dead node's paths free up; a node
// with a reader for a path it does not have asks the publishing node for
// its frames on a want subject, and that node publishes them on the path's
// frames subject (NATS core, no JetStream) for as long as some node keeps
// asking, once a heartbeat.
type Media struct {
	b      *JetStream
	reg    *media.Registry
	log    *slog.Logger
	bucket string

	kv       *boundBucket
	mu       sync.Mutex
	fetching map[string]*sync.Mutex // one fetch per path at a time
}

// Timing of claims and interest. A claim outlives two missed refreshes;
// a remote copy ends after two heartbeats its publisher did not answer,
// so a dead node's paths go offline everywhere within about 3 s.
const (
	claimTTL      = 4 * time.Second
	claimRefresh  = time.Second
	heartbeat     = time.Second
	interestTTL   = 3 * heartbeat
	missedBeats   = 2
	readerlessFor = 2 // heartbeats without readers before a remote copy ends
)

// Media opens (or creates) the path claim bucket.
func (b *JetStream) Media(ctx context.Context) (*Media, error) {
	name := strings.ToUpper(b.cfg.Prefix) + "_MEDIA_PATHS"
	kv, err := b.openBucket(ctx, jetstream.KeyValueConfig{
		Bucket: name, Storage: jetstream.MemoryStorage, Replicas: b.cfg.Replicas, History: 1, TTL: claimTTL,
	})
	if err != nil {
		return nil, err
	}
	return &Media{b: b, log: b.log.With("component", "media"), bucket: name, kv: kv,
		fetching: map[string]*sync.Mutex{}}, nil
}

// Attach gives m the registry whose paths it serves and feeds, before any
// Claim or Fetch, and starts watching claims until the cluster closes.
func (m *Media) Attach(reg *media.Registry) {
	m.reg = reg
	go m.watchClaims()
}

// watchClaims publishes a path's state offline when its claim stops being
// refreshed: its node died (a node that ends a path says so itself and
// deletes the claim, which is then forgotten here).
func (m *Media) watchClaims() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-m.b.closed
		cancel()
	}()
	kv, err := m.bucketNow(ctx)
	if err != nil {
		m.log.Warn("media claims not watched: a dead node's paths stay online in $media", "err", err)
		return
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		m.log.Warn("media claims not watched: a dead node's paths stay online in $media", "err", err)
		return
	}
	defer func() { _ = w.Stop() }()
	seen := map[string]time.Time{} // claim key -> when last refreshed
	t := time.NewTicker(claimRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // the initial values are in
			}
			if e.Operation() == jetstream.KeyValuePut {
				seen[e.Key()] = time.Now()
			} else {
				delete(seen, e.Key())
			}
		case now := <-t.C:
			for key, at := range seen {
				if now.Sub(at) < claimTTL {
					continue
				}
				delete(seen, key)
				if name, err := base64.RawURLEncoding.DecodeString(key); err == nil {
					m.log.Info("media path offline: its node stopped refreshing its claim", "path", string(name))
					m.reg.PublishOffline(string(name))
				}
			}
		}
	}
}

func (m *Media) bucketNow(ctx context.Context) (jetstream.KeyValue, error) { return m.kv.now(ctx) }

func (m *Media) wantSubject(name string) string {
	return m.b.cfg.Prefix + ".media.w." + token(name)
}

func (m *Media) framesSubject(name string) string {
	return m.b.cfg.Prefix + ".media.f." + token(name)
}

// claimRecord is a claim's value.
type claimRecord struct {
	Node string `json:"node"`
}

// wantReply answers a want: the path's tracks, or why not.
type wantReply struct {
	Tracks []wireTrack `json:"tracks,omitempty"`
	Error  string      `json:"error,omitempty"`
}

var _ media.Cluster = (*Media)(nil)

// Claim implements media.Cluster.
func (m *Media) Claim(name string, tracks []media.Track) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.b.cfg.Timeout)
	defer cancel()
	key := token(name)
	if n := len("$KV."+m.bucket+".") + len(key); n > maxSubject {
		return nil, fmt.Errorf("%w: %w", media.ErrBadPath, subjectTooLong(n))
	}
	kv, err := m.bucketNow(ctx)
	if err != nil {
		return nil, err
	}
	value, _ := json.Marshal(claimRecord{Node: m.b.cfg.Node})
	rev, err := kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// This node's own claim (a takeover on this node) is taken again.
		e, gerr := kv.Get(ctx, key)
		var rec claimRecord
		if gerr != nil || json.Unmarshal(e.Value(), &rec) != nil || rec.Node != m.b.cfg.Node {
			return nil, fmt.Errorf("%w: %s (published on another node)", media.ErrBusy, name)
		}
		rev, err = kv.Update(ctx, key, value, e.Revision())
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: claim media path %s: %w", name, err)
	}
	s := &served{m: m, name: name, key: key, value: value, rev: rev, stop: make(chan struct{})}
	s.unsubscribe, err = m.b.follow(func(nc *nats.Conn) (func(), error) {
		sub, err := nc.Subscribe(m.wantSubject(name), s.want)
		if err != nil {
			return nil, err
		}
		return func() { _ = sub.Unsubscribe() }, nil
	})
	if err != nil {
		_ = kv.Delete(ctx, key, jetstream.LastRevision(rev))
		return nil, fmt.Errorf("cluster: serve media path %s: %w", name, err)
	}
	s.tracks = encodeTracks(tracks)
	s.done.Add(1)
	go s.keep()
	return s.release, nil
}

// served is a path this node publishes: its claim, kept fresh, and its
// frames sent while other nodes want them.
type served struct {
	m           *Media
	name, key   string
	value       []byte
	tracks      []wireTrack
	unsubscribe func()
	stop        chan struct{}
	once        sync.Once
	done        sync.WaitGroup

	mu       sync.Mutex
	rev      uint64
	wanted   time.Time     // the last want from any node
	sending  *media.Reader // non-nil while frames are sent
	sendDone chan struct{} // closed when the sender has stopped
}

// want answers a node asking for the path's frames: its tracks, and frames
// from now on while wants keep coming.
func (s *served) want(msg *nats.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := wantReply{Tracks: s.tracks}
	select {
	case <-s.stop:
		reply = wantReply{Error: "path ended"}
	default:
		s.wanted = time.Now()
		if s.sending == nil {
			rd, err := s.m.reg.ReadLocal(s.name, "cluster")
			if err != nil {
				reply = wantReply{Error: err.Error()}
				break
			}
			s.sending, s.sendDone = rd, make(chan struct{})
			go s.send(rd, s.sendDone)
		}
	}
	data, _ := json.Marshal(reply)
	_ = msg.Respond(data)
}

// send publishes the reader's frames on the frames subject until it ends,
// then an end marker if the path ended.
func (s *served) send(rd *media.Reader, done chan struct{}) {
	defer close(done)
	subject := s.m.framesSubject(s.name)
	warned := false
	for {
		f, err := rd.Next(context.Background())
		if err != nil {
			if !errors.Is(err, media.ErrClosed) {
				_ = s.m.b.link().nc.Publish(subject, endMarker)
			}
			return
		}
		if err := s.m.b.link().nc.Publish(subject, encodeFrame(f)); err != nil && !warned {
			warned = true // a frame over NATS's max_payload, or NATS gone: said once
			s.m.log.Warn("media frame not sent to other nodes", "path", s.name, "err", err)
		}
	}
}

// keep refreshes the claim and stops sending once no node wants the frames.
func (s *served) keep() {
	defer s.done.Done()
	t := time.NewTicker(claimRefresh)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.refresh()
		s.mu.Lock()
		if s.sending != nil && time.Since(s.wanted) > interestTTL {
			s.sending.Close()
			s.sending = nil
		}
		s.mu.Unlock()
	}
}

func (s *served) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), s.m.b.cfg.Timeout)
	defer cancel()
	kv, err := s.m.bucketNow(ctx)
	if err == nil {
		var next uint64
		if next, err = kv.Update(ctx, s.key, s.value, s.revision()); err == nil {
			s.mu.Lock()
			s.rev = next
			s.mu.Unlock()
			return
		}
	}
	// NATS away a moment, or the claim moved on (this node's own takeover):
	// the next refresh tries again; a claim another node took wins.
	s.m.log.Debug("media claim not refreshed", "path", s.name, "err", err)
}

// revision is the claim's revision, as last written here.
func (s *served) revision() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev
}

// release gives the claim back and stops serving; the path ended here.
func (s *served) release() {
	s.once.Do(func() {
		s.unsubscribe()
		close(s.stop)
		s.done.Wait()
		s.mu.Lock()
		if s.sending != nil {
			done := s.sendDone
			s.mu.Unlock()
			<-done // the reader ends with the path: the end marker is sent
		} else {
			s.mu.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.m.b.cfg.Timeout)
		defer cancel()
		kv, err := s.m.bucketNow(ctx)
		if err == nil {
			err = kv.Delete(ctx, s.key, jetstream.LastRevision(s.revision()))
		}
		if err != nil {
			s.m.log.Debug("media claim not given back; it expires", "path", s.name, "err", err)
		}
	})
}
