package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit/httpx"
)

// A dashboard session is a cookie holding its id (HttpOnly, so scripts
// never see it) and a CSRF token bound to it, which only the session's
// own page can read (from the login answer or SessionPath, both refused
// to other origins) and sends back in CSRFHeader with every
// state-changing request. The token is in no cookie: cookies are not
// separated by port, so a page on another port of the same host could
// read it.
const (
	SessionCookie = "streamhub_session"
	CSRFHeader    = "X-CSRF-Token"
	// LoginPath takes credentials in its body: no other authentication.
	LoginPath = "/v1/admin/login"
	// SessionPath tells the page its session and CSRF token.
	SessionPath = "/v1/admin/session"
	// legacyCSRFCookie is where earlier versions kept the token; logout
	// clears it.
	legacyCSRFCookie = "streamhub_csrf"
)

// ErrCSRF refuses a state-changing request made with a session cookie but
// without its CSRF token: another site's page can make a browser send the
// cookie, not read the token.
var ErrCSRF = errors.New("admin: a request with a session cookie needs its CSRF token in the " + CSRFHeader + " header")

// maxSessions bounds the sessions held; the oldest go first.
const maxSessions = 1000

type session struct {
	id      *auth.Identity
	csrf    string
	expires time.Time
}

// Logins holds the dashboard's logins, in memory: a restart signs
// everyone out.
type Logins struct {
	policy *auth.Policy
	ttl    time.Duration

	mu   sync.Mutex
	byID map[string]*session
}

// NewLogins keeps logins checked by policy for ttl.
func NewLogins(policy *auth.Policy, ttl time.Duration) *Logins {
	return &Logins{policy: policy, ttl: ttl, byID: make(map[string]*session)}
}

// Identify returns the identity of r's session cookie: nil (and no error)
// without one, or when a page of another origin sent it (the browser adds
// the cookie to any request to this host), ErrCSRF for a state-changing
// request without its token.
func (s *Logins) Identify(r *http.Request) (*auth.Identity, error) {
	ss := s.session(r)
	if ss == nil || CrossOrigin(r) {
		return nil, nil // none, stale or foreign: other credentials, or anonymous
	}
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(ss.csrf)) != 1 {
		return nil, ErrCSRF
	}
	return ss.id, nil
}

// session is r's live session, or nil.
func (s *Logins) session(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byID[c.Value]
	if ss != nil && time.Now().After(ss.expires) {
		delete(s.byID, c.Value)
		ss = nil
	}
	return ss
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// loginRequest is the body of POST /v1/admin/login.
type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// sessionJSON is the answer of Login and Session.
type sessionJSON struct {
	SignedIn bool      `json:"signed_in"`
	User     string    `json:"user,omitempty"`
	CSRF     string    `json:"csrf,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// Login serves POST /v1/admin/login: a users-file user and password, or a
// token, of the admin role, gets a session cookie; the answer carries the
// session's CSRF token. A session never outlives the token it was opened
// with.
func (s *Logins) Login(w http.ResponseWriter, r *http.Request) {
	if s.policy.Open() {
		httpx.WriteError(w, http.StatusBadRequest, "auth_off", "auth is off: there is nothing to sign in to")
		return
	}
	var req loginRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		httpx.WriteError(w, http.StatusBadRequest, "bad_request", "a JSON object with user and password, or token")
		return
	}
	var id *auth.Identity
	var err error
	if req.Token != "" {
		id, err = s.policy.Login(r.Context(), auth.Credentials{Protocol: "dashboard", Remote: r.RemoteAddr, Token: req.Token})
	} else {
		id, err = s.policy.Login(r.Context(), auth.Credentials{Protocol: "dashboard", Remote: r.RemoteAddr,
			User: req.User, Password: req.Password})
	}
	switch {
	case errors.Is(err, limit.ErrTooManyFailures):
		httpx.WriteError(w, http.StatusTooManyRequests, "too_many_failures", err.Error())
		return
	case errors.Is(err, auth.ErrUnavailable):
		httpx.WriteError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		return
	case err != nil:
		httpx.WriteError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	case !id.Admin():
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "the dashboard needs the admin role")
		return
	}
	expires := time.Now().Add(s.ttl)
	if exp := id.Expires(); !exp.IsZero() && exp.Before(expires) {
		expires = exp
	}
	sid, ss := randomToken(), &session{id: id, csrf: randomToken(), expires: expires}
	s.add(sid, ss)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: expires})
	httpx.WriteJSON(w, ss.describe())
}

// Session serves GET /v1/admin/session: the page's session, with its CSRF
// token, or signed_in false.
func (s *Logins) Session(w http.ResponseWriter, r *http.Request) {
	ss := s.session(r)
	if ss == nil {
		httpx.WriteJSON(w, sessionJSON{})
		return
	}
	httpx.WriteJSON(w, ss.describe())
}

func (ss *session) describe() sessionJSON {
	return sessionJSON{SignedIn: true, User: ss.id.User, CSRF: ss.csrf, Expires: ss.expires}
}

// Logout serves POST /v1/admin/logout.
func (s *Logins) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
	for _, name := range []string{SessionCookie, legacyCSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Path: "/", MaxAge: -1})
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Logins) add(sid string, ss *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, old := range s.byID {
		if now.After(old.expires) {
			delete(s.byID, k)
		}
	}
	for len(s.byID) >= maxSessions {
		var oldest string
		for k, old := range s.byID {
			if oldest == "" || old.expires.Before(s.byID[oldest].expires) {
				oldest = k
			}
		}
		delete(s.byID, oldest)
	}
	s.byID[sid] = ss
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
