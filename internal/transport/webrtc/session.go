package webrtc

import (
	"context"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
)

// session is one peer connection and its data channels.
type session struct {
	srv      *Server
	id       string
	identity *auth.Identity
	remote   string
	pc       *webrtc.PeerConnection
	// limiter is shared by the session's channels: the rate is per peer.
	limiter *rate.Limiter
	// ctx ends with the session; every channel's writer watches it.
	ctx    context.Context
	cancel context.CancelFunc

	// beforeAnswer, when set, adjusts the transceivers the offer made
	// before the answer is written (WHIP's codec preference).
	beforeAnswer func() error

	closeOnce sync.Once
	release   func() // the connection slot
	// wg counts the session's goroutines; mu guards closing, after which
	// no channel joins wg.
	wg      sync.WaitGroup
	mu      sync.Mutex
	closing bool
}

func (s *Server) newSession(api *webrtc.API, id *auth.Identity, remote string, release func()) (*session, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	// The identity outlives the request; nothing else of its context does.
	ctx, cancel := context.WithCancel(auth.WithIdentity(context.Background(), id))
	ss := &session{srv: s, id: newSessionID(), identity: id, remote: remote, pc: pc,
		limiter: s.cfg.Admission.Rate.Limiter(), ctx: ctx, cancel: cancel, release: release}
	if err := s.add(ss); err != nil {
		cancel()
		_ = pc.Close()
		return nil, err
	}
	disconnected := s.meter.Connected()
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		<-ctx.Done()
		disconnected()
	}()
	pc.OnDataChannel(ss.openChannel)
	pc.OnConnectionStateChange(ss.stateChanged)
	// A peer that never connects is reclaimed too.
	connectTimer := time.AfterFunc(connectTimeout, func() {
		if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			ss.close()
		}
	})
	context.AfterFunc(ctx, func() { connectTimer.Stop() })
	return ss, nil
}

func (ss *session) stateChanged(state webrtc.PeerConnectionState) {
	switch state {
	case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
		// From pion's callback goroutine: close waits for nothing of pion's.
		go ss.close()
	}
}

// close ends the session once: the peer connection, every channel's
// subscription and writer, the connection slot.
func (ss *session) close() {
	ss.closeOnce.Do(func() {
		ss.srv.remove(ss.id)
		ss.mu.Lock()
		ss.closing = true
		ss.mu.Unlock()
		ss.cancel()
		_ = ss.pc.Close()
		ss.wg.Wait()
		ss.release()
	})
}

// kick is the registry's: it must not block.
func (ss *session) kick() { go ss.close() }
