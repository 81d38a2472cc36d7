package auth

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
)

// JWTConfig lists the keys tokens may be signed with.
type JWTConfig struct {
	Secret string // HS256 shared secret
	RSAKey string // RS256 public key, PEM file
	ECKey  string // ES256 public key, PEM file
	JWKS   string // JSON Web Key Set file (RSA and P-256 keys)
}

// Rule grants (and denies) topics to some identities. Filters may use %u
// (the user name) and %c (the client id).
type Rule struct {
	// Who: a user name, "role:NAME", "*" (anyone authenticated),
	// "anonymous", or "all".
	Who                        string
	Publish, Subscribe         []string
	DenyPublish, DenySubscribe []string
}

// Config is the security policy.
type Config struct {
	// Required refuses connections without valid credentials.
	Required bool
	Users    string // users file: name:bcrypt-hash[:roles]
	JWT      JWTConfig
	Rules    []Rule
	// Failures is how many wrong passwords one client address may send in
	// a row before its password checks are refused unchecked; it gets one
	// more every FailureInterval. 0: no limit.
	Failures        int
	FailureInterval time.Duration
	// HTTP asks an HTTP service about the logins the users file and the
	// JWT keys do not decide (HTTP.URL empty: none).
	HTTP HTTPConfig
	// Observer is told how the HTTP service answers (nil: nobody).
	Observer Observer
}

// Policy authenticates and authorises. A nil *Policy allows everything:
// the open default.
type Policy struct {
	cfg   Config
	users map[string]user
	keys  *keys
	// dummyHash is compared against when the user name is unknown, so an
	// unknown name costs as much bcrypt work as a wrong password and the
	// answer time does not tell which names exist.
	dummyHash []byte
	// compareHash is bcrypt.CompareHashAndPassword; tests observe it.
	compareHash func(hash, password []byte) error
	// failures counts wrong passwords per address; hashing holds a slot
	// for each bcrypt comparison running, so that wrong passwords from
	// many addresses cannot take every core from the rest of the server.
	failures *limit.Failures
	hashing  chan struct{}
	// callback holds the HTTP service's answers (nil: no service).
	callback *answers
}

// New loads a policy; with nothing required and no rules it returns nil (open).
func New(cfg Config) (*Policy, error) {
	if !cfg.Required && len(cfg.Rules) == 0 && cfg.Users == "" && cfg.JWT == (JWTConfig{}) && cfg.HTTP.URL == "" {
		return nil, nil
	}
	p := &Policy{cfg: cfg, users: map[string]user{}, compareHash: bcrypt.CompareHashAndPassword,
		failures: limit.NewFailures(cfg.Failures, cfg.FailureInterval),
		hashing:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	if cfg.Users != "" {
		u, err := loadUsers(cfg.Users)
		if err != nil {
			return nil, err
		}
		p.users = u
	}
	dummy, err := dummyHash(p.users)
	if err != nil {
		return nil, err
	}
	p.dummyHash = dummy
	k, err := newKeys(cfg.JWT)
	if err != nil {
		return nil, err
	}
	p.keys = k
	if cfg.HTTP.URL != "" {
		if p.callback, err = newAnswers(cfg.HTTP, cfg.Observer); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.Rules {
		for _, f := range append(append(append(append([]string{}, r.Publish...), r.Subscribe...), r.DenyPublish...), r.DenySubscribe...) {
			if err := topic.ValidateFilter(strings.NewReplacer("%u", "u", "%c", "c").Replace(f)); err != nil {
				return nil, fmt.Errorf("auth: rule for %q: %w", r.Who, err)
			}
		}
	}
	return p, nil
}

// Open reports whether the policy allows everything.
func (p *Policy) Open() bool { return p == nil }

// LooksLikeJWT reports whether s has a JWT's three dot-separated parts.
func LooksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 && len(s) > 20 }

// Credentials are what a client presented to log in, and where.
type Credentials struct {
	// Protocol names the door: mqtt, http, ws, webrtc, whip, whep, hls,
	// tcp, rtmp, rtsp or dashboard (the HTTP service is told it).
	Protocol string
	Remote   string // the client's address, host:port
	User     string
	Password string
	Token    string // a bearer token: a JWT, or anything the HTTP service knows
	ClientID string
}

// Login authenticates c, in this order: a password that is a JWT is taken
// as the token (MQTT clients can carry one only there); a token is verified
// with the JWT keys; a user name the users file lists is checked there; the
// rest (names the users file does not list, tokens the keys do not verify)
// go to the HTTP service when there is one, and are refused otherwise. An
// address that sent too many wrong passwords lately is refused with
// limit.ErrTooManyFailures without a check, whatever it sends.
func (p *Policy) Login(ctx context.Context, c Credentials) (*Identity, error) {
	if c.Token == "" && LooksLikeJWT(c.Password) {
		c.Token, c.User, c.Password = c.Password, "", ""
	}
	if p == nil {
		if c.Token != "" {
			return &Identity{ClientID: c.ClientID, Anonymous: true}, nil
		}
		return &Identity{User: c.User, ClientID: c.ClientID, Anonymous: c.User == ""}, nil
	}
	if c.Token != "" {
		return p.tokenLogin(ctx, c)
	}
	return p.passwordLogin(ctx, c)
}

func (p *Policy) passwordLogin(ctx context.Context, c Credentials) (*Identity, error) {
	if p.failures.Blocked(c.Remote) {
		return nil, limit.ErrTooManyFailures
	}
	u, ok := p.users[c.User]
	if !ok && p.callback != nil {
		return p.ask(ctx, c, ErrBadCredentials)
	}
	hash := u.hash
	if !ok {
		hash = p.dummyHash
	}
	p.hashing <- struct{}{}
	defer func() { <-p.hashing }()
	if p.failures.Blocked(c.Remote) { // checks from the address that ran meanwhile failed
		return nil, limit.ErrTooManyFailures
	}
	if err := p.compareHash(hash, []byte(c.Password)); !ok || err != nil {
		p.failures.Fail(c.Remote)
		return nil, ErrBadCredentials
	}
	return &Identity{User: c.User, ClientID: c.ClientID, Roles: u.roles}, nil
}

func (p *Policy) tokenLogin(ctx context.Context, c Credentials) (*Identity, error) {
	claims, err := p.keys.verify(c.Token)
	if err != nil {
		if p.callback != nil {
			return p.ask(ctx, c, ErrBadToken)
		}
		return nil, err
	}
	id := &Identity{User: claims.Subject, ClientID: c.ClientID, Roles: claims.Roles}
	if len(claims.Streamhub.Publish) > 0 || len(claims.Streamhub.Subscribe) > 0 {
		id.Rights = &Rights{Publish: claims.Streamhub.Publish, Subscribe: claims.Streamhub.Subscribe}
	}
	if claims.ExpiresAt != nil { // required by the parser
		id.expires = claims.ExpiresAt.UnixNano()
	}
	return id, nil
}

// ask lets the HTTP service decide; denied is the error of its deny. A
// deny of a password counts as a wrong one. When the service fails, the
// login is refused with ErrUnavailable or, when the service fails open,
// let in as anonymous: the name it sent is unproven, and must not bring the
// rights the ACL gives that name (or "*").
func (p *Policy) ask(ctx context.Context, c Credentials, denied error) (*Identity, error) {
	v, err := p.callback.decide(ctx, c)
	switch {
	case err != nil && p.cfg.HTTP.FailOpen:
		return &Identity{ClientID: c.ClientID, Anonymous: true}, nil
	case err != nil: // the observer was told why; clients are not told where the service is
		return nil, ErrUnavailable
	case !v.allow:
		if c.Token == "" {
			p.failures.Fail(c.Remote)
		}
		return nil, denied
	}
	id := v.id
	id.ClientID = c.ClientID
	return &id, nil
}

// Certificate is the identity of a client that presented a verified TLS
// certificate: its common name is the user (with the roles the users file
// gives that name, if any).
func (p *Policy) Certificate(name, clientID string) *Identity {
	id := &Identity{User: name, ClientID: clientID}
	if p != nil {
		id.Roles = p.users[name].roles
	}
	return id
}

// Anonymous is the identity of a connection without credentials, refused
// when credentials are required.
func (p *Policy) Anonymous(clientID string) (*Identity, error) {
	if p != nil && p.cfg.Required {
		return nil, ErrNoCredentials
	}
	return AnonymousIdentity(clientID), nil
}

// AnonymousIdentity is the identity Anonymous gives an admitted client:
// for a connection that lets go of it and makes it again when asked.
func AnonymousIdentity(clientID string) *Identity {
	return &Identity{ClientID: clientID, Anonymous: true}
}

func (r Rule) applies(id *Identity) bool {
	switch {
	case r.Who == "all":
		return true
	case r.Who == "anonymous":
		return id.Anonymous
	case r.Who == "*":
		return !id.Anonymous
	case strings.HasPrefix(r.Who, "role:"):
		for _, role := range id.Roles {
			if role == r.Who[5:] {
				return true
			}
		}
		return false
	}
	return !id.Anonymous && r.Who == id.User
}

// expand substitutes %u and %c; it reports false when the value cannot be
// substituted safely (empty, or holding /, + or #), so the filter is skipped.
func expand(f string, id *Identity) (string, bool) {
	unsafe := func(v string) bool { return v == "" || strings.ContainsAny(v, "/+#") }
	if strings.Contains(f, "%u") {
		if unsafe(id.User) {
			return "", false
		}
		f = strings.ReplaceAll(f, "%u", id.User)
	}
	if strings.Contains(f, "%c") {
		if unsafe(id.ClientID) {
			return "", false
		}
		f = strings.ReplaceAll(f, "%c", id.ClientID)
	}
	return f, true
}

// grants lists the identity's allowed and denied filters for an action.
func (p *Policy) grants(id *Identity, publish bool) (allow, deny []string) {
	for _, r := range p.cfg.Rules {
		if !r.applies(id) {
			continue
		}
		a, d := r.Subscribe, r.DenySubscribe
		if publish {
			a, d = r.Publish, r.DenyPublish
		}
		for _, f := range a {
			if e, ok := expand(f, id); ok {
				allow = append(allow, e)
			}
		}
		for _, f := range d {
			if e, ok := expand(f, id); ok {
				deny = append(deny, e)
			}
		}
	}
	var r Rights
	if id.Rights != nil {
		r = *id.Rights
	}
	if publish {
		return append(allow, r.Publish...), append(deny, r.DenyPublish...)
	}
	return append(allow, r.Subscribe...), append(deny, r.DenySubscribe...)
}

func isSys(s string) bool { return strings.HasPrefix(s, "$SYS") }

// CanPublish decides a publish. Nobody but the server publishes to $SYS.
func (p *Policy) CanPublish(id *Identity, name string) bool {
	if p == nil {
		return true
	}
	if isSys(name) {
		return false
	}
	allow, deny := p.grants(id, true)
	return topic.MatchAny(allow, name) && !topic.MatchAny(deny, name)
}

// CanRead decides whether a message on topic name may reach id. $SYS is
// for admins only.
func (p *Policy) CanRead(id *Identity, name string) bool {
	if p == nil {
		return true
	}
	if isSys(name) {
		return id.Admin()
	}
	allow, deny := p.grants(id, false)
	return topic.MatchAny(allow, name) && !topic.MatchAny(deny, name)
}

// CanSubscribe decides a subscription: it is allowed when it can match some
// readable topic; restricted reports that its messages must still be
// checked one by one with CanRead (a wildcard reaching beyond the grants).
func (p *Policy) CanSubscribe(id *Identity, filter string) (ok, restricted bool) {
	if p == nil {
		return true, false
	}
	if isSys(filter) {
		return id.Admin(), false
	}
	allow, deny := p.grants(id, false)
	for _, d := range deny {
		if topic.Covers(d, filter) {
			return false, false
		}
	}
	covered := false
	for _, a := range allow {
		if topic.Covers(a, filter) {
			covered = true
		}
		if topic.Overlap(a, filter) {
			ok = true
		}
	}
	restricted = !covered
	for _, d := range deny {
		if topic.Overlap(d, filter) {
			restricted = true
		}
	}
	return ok, restricted
}

// CheckSubscribe applies CanSubscribe to every filter of one request: it
// returns the first refused filter, or, when some wildcard reaches beyond
// the grants, the per-message check the subscription must apply (nil when
// none is needed).
func (p *Policy) CheckSubscribe(id *Identity, filters []string) (denied string, check func(string) bool) {
	if p == nil {
		return "", nil
	}
	restrict := false
	for _, f := range filters {
		ok, restricted := p.CanSubscribe(id, f)
		if !ok {
			return f, nil
		}
		restrict = restrict || restricted
	}
	if restrict {
		return "", p.ReadCheck(id)
	}
	return "", nil
}

// ReadCheck returns the per-message check for a subscription of id.
func (p *Policy) ReadCheck(id *Identity) func(string) bool {
	return func(name string) bool { return p.CanRead(id, name) }
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx, or an anonymous one.
func FromContext(ctx context.Context) *Identity {
	if id, ok := ctx.Value(ctxKey{}).(*Identity); ok {
		return id
	}
	return &Identity{Anonymous: true}
}
