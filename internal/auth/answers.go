package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// answers puts a cache and a single flight in front of the callback: an
// answer is reused for the same credentials for a while, and logins with
// the same credentials at the same time wait for one call together.
type answers struct {
	cb  *callback
	obs Observer
	// secret keys the credentials' HMAC, so that the cache holds neither
	// passwords nor hashes of them that could be guessed offline.
	secret []byte
	cache  *lru.Cache[credentialsKey, cachedVerdict] // nil: answers are not kept
	calls  singleflight.Group
	now    func() time.Time
	// joined, when set, is told of each login that waits for a call;
	// tests count them.
	joined func()
}

// credentialsKey names a login's credentials in the cache.
type credentialsKey [sha256.Size]byte

type cachedVerdict struct {
	verdict
	until time.Time
}

// noObserver is the Observer when none is given.
type noObserver struct{}

func (noObserver) AuthCallback(string, time.Duration, error) {}
func (noObserver) AuthCallbackCached(string)                 {}

func newAnswers(cfg HTTPConfig, obs Observer) (*answers, error) {
	cb, err := newCallback(cfg)
	if err != nil {
		return nil, err
	}
	if obs == nil {
		obs = noObserver{}
	}
	a := &answers{cb: cb, obs: obs, secret: make([]byte, 32), now: time.Now}
	if _, err := rand.Read(a.secret); err != nil {
		return nil, fmt.Errorf("auth: http: cache key: %w", err)
	}
	if (cfg.Cache > 0 || cfg.DenyCache > 0) && cfg.CacheSize > 0 {
		if a.cache, err = lru.New[credentialsKey, cachedVerdict](cfg.CacheSize); err != nil {
			return nil, fmt.Errorf("auth: http: cache: %w", err)
		}
	}
	return a, nil
}

// keyOf is the HMAC of everything a call sends but the client's address
// (whose port changes with every connection): the answer is reused for the
// same credentials from any address.
func (a *answers) keyOf(c Credentials) credentialsKey {
	m := hmac.New(sha256.New, a.secret)
	for _, f := range []string{c.Protocol, c.User, c.Password, c.Token, c.ClientID} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		m.Write(n[:])
		m.Write([]byte(f))
	}
	var k credentialsKey
	m.Sum(k[:0])
	return k
}

// decide returns the callback's verdict on c, cached or asked for; an
// error means the callback failed (down, slow, or a bad answer).
func (a *answers) decide(ctx context.Context, c Credentials) (verdict, error) {
	key := a.keyOf(c)
	if v, ok := a.cached(key); ok {
		return v, nil
	}
	ch := a.calls.DoChan(string(key[:]), func() (any, error) {
		start := a.now()
		// Without the caller's cancellation: the others waiting on this
		// call must not fail because the first caller went away. The
		// callback's timeout bounds it.
		v, result, err := a.cb.ask(context.WithoutCancel(ctx), c)
		a.obs.AuthCallback(result, a.now().Sub(start), err)
		if err == nil {
			a.keep(key, v)
		}
		return v, err
	})
	if a.joined != nil {
		a.joined()
	}
	select {
	case r := <-ch:
		if r.Err != nil {
			return verdict{}, r.Err
		}
		return r.Val.(verdict), nil
	case <-ctx.Done():
		return verdict{}, fmt.Errorf("auth: http: %w", ctx.Err())
	}
}

func (a *answers) cached(key credentialsKey) (verdict, bool) {
	if a.cache == nil {
		return verdict{}, false
	}
	e, ok := a.cache.Get(key)
	if !ok {
		return verdict{}, false
	}
	if !a.now().Before(e.until) {
		a.cache.Remove(key)
		return verdict{}, false
	}
	result := ResultDeny
	if e.allow {
		result = ResultAllow
	}
	a.obs.AuthCallbackCached(result)
	return e.verdict, true
}

func (a *answers) keep(key credentialsKey, v verdict) {
	ttl := a.cb.cfg.DenyCache
	if v.allow {
		ttl = a.cb.cfg.Cache
	}
	if a.cache == nil || ttl <= 0 {
		return
	}
	a.cache.Add(key, cachedVerdict{verdict: v, until: a.now().Add(ttl)})
}
