package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"streamhub/internal/media"
)

// Fetch implements media.Cluster: it asks the node publishing name for its
// frames and makes the path local, fed by them, until it has no readers
// here or that node stops answering.
func (m *Media) Fetch(name string) error {
	m.mu.Lock()
	lock := m.fetching[name]
	if lock == nil {
		lock = &sync.Mutex{}
		m.fetching[name] = lock
	}
	m.mu.Unlock()
	lock.Lock()
	defer func() {
		lock.Unlock()
		m.mu.Lock()
		delete(m.fetching, name) // a waiter holds its own pointer
		m.mu.Unlock()
	}()

	f := &feed{m: m, name: name, stop: make(chan struct{})}
	// Subscribed before asking, so the frames that follow the answer are
	// all here.
	unsubscribe, err := m.b.follow(func(nc *nats.Conn) (func(), error) {
		sub, err := nc.Subscribe(m.framesSubject(name), f.frame)
		if err != nil {
			return nil, err
		}
		return func() { _ = sub.Unsubscribe() }, nil
	})
	if err != nil {
		return fmt.Errorf("cluster: fetch media path %s: %w", name, err)
	}
	f.unsubscribe = unsubscribe
	tracks, err := m.ask(name)
	if err != nil {
		unsubscribe()
		return err
	}
	pb, err := m.reg.PublishRemote(name, tracks, f.halt)
	if errors.Is(err, media.ErrBusy) {
		unsubscribe() // here already: another reader's fetch, or a publisher
		return nil
	}
	if err != nil {
		unsubscribe()
		return err
	}
	f.tracks = tracks
	f.pb.Store(pb)
	go f.keep()
	return nil
}

// ask sends a want for name to the node publishing it and returns the
// path's tracks; media.ErrNotFound when no node publishes it.
func (m *Media) ask(name string) ([]media.Track, error) {
	ctx, cancel := context.WithTimeout(context.Background(), heartbeat)
	defer cancel()
	msg, err := m.b.link().nc.RequestWithContext(ctx, m.wantSubject(name), []byte(m.b.cfg.Node))
	if err != nil {
		return nil, fmt.Errorf("%w: %s (no node answers for it: %w)", media.ErrNotFound, name, err)
	}
	var reply wantReply
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return nil, fmt.Errorf("cluster: fetch media path %s: bad answer: %w", name, err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("%w: %s (%s)", media.ErrNotFound, name, reply.Error)
	}
	tracks, err := decodeTracks(reply.Tracks)
	if err != nil {
		return nil, fmt.Errorf("cluster: fetch media path %s: %w", name, err)
	}
	return tracks, nil
}

// feed is a local copy of another node's path.
type feed struct {
	m           *Media
	name        string
	tracks      []media.Track
	pb          atomic.Pointer[media.Publisher]
	unsubscribe func()
	stop        chan struct{}
	once        sync.Once
	ended       atomic.Bool // the publishing node sent the end marker
}

// frame hands one frame from the publishing node to the local readers.
func (f *feed) frame(msg *nats.Msg) {
	pb := f.pb.Load()
	if pb == nil {
		return
	}
	if isEndMarker(msg.Data) {
		if f.ended.CompareAndSwap(false, true) {
			go pb.Close()
		}
		return
	}
	fr, err := decodeFrame(msg.Data)
	if err != nil || fr.Track >= len(f.tracks) {
		f.m.log.Debug("media frame from another node dropped", "path", f.name, "err", err)
		return
	}
	pb.Write(fr)
}

// keep repeats the want each heartbeat while the copy has readers, and
// ends the copy when it has none or the publishing node stops answering.
func (f *feed) keep() {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	idle, missed := 0, 0
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
		pb := f.pb.Load()
		if pb.Readers() == 0 {
			idle++
		} else {
			idle = 0
		}
		if _, err := f.m.ask(f.name); err != nil {
			missed++
		} else {
			missed = 0
		}
		if idle >= readerlessFor || missed >= missedBeats {
			f.m.log.Debug("media path from another node ends here", "path", f.name, "readerless", idle, "missed", missed)
			pb.Close()
			return
		}
	}
}

// halt stops the feed; the path calls it once as it ends.
func (f *feed) halt() {
	f.once.Do(func() {
		close(f.stop)
		f.unsubscribe()
	})
}
