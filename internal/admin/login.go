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
	"streamhub/internal/transport/kit/httpx"
)

// Cookies of a dashboard session: the session id (HttpOnly, so scripts
// never see it) and its CSRF token, which the page's script reads and
// sends back in CSRFHeader with every state-changing request.
const (
	SessionCookie = "streamhub_session"
	CSRFCookie    = "streamhub_csrf"
	CSRFHeader    = "X-CSRF-Token"
	// LoginPath takes credentials in its body: no other authentication.
	LoginPath = "/v1/admin/login"
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
// without one, ErrCSRF for a state-changing request without its token.
func (s *Logins) Identify(r *http.Request) (*auth.Identity, error) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	s.mu.Lock()
	ss := s.byID[c.Value]
	if ss != nil && time.Now().After(ss.expires) {
		delete(s.byID, c.Value)
		ss = nil
	}
	s.mu.Unlock()
	if ss == nil {
		return nil, nil // a stale cookie: other credentials, or anonymous
	}
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(ss.csrf)) != 1 {
		return nil, ErrCSRF
	}
	return ss.id, nil
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

// Login serves POST /v1/admin/login: a users-file user and password, or a
// token, of the admin role, gets a session cookie and a CSRF cookie.
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
		id, err = s.policy.Token(req.Token, "")
	} else {
		id, err = s.policy.Password(req.User, req.Password, "")
	}
	switch {
	case err != nil:
		httpx.WriteError(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	case !id.Admin():
		httpx.WriteError(w, http.StatusForbidden, "forbidden", "the dashboard needs the admin role")
		return
	}
	sid, csrf := randomToken(), randomToken()
	s.add(sid, &session{id: id, csrf: csrf, expires: time.Now().Add(s.ttl)})
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.ttl.Seconds())})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(s.ttl.Seconds())})
	httpx.WriteJSON(w, map[string]string{"user": id.User})
}

// Logout serves POST /v1/admin/logout.
func (s *Logins) Logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		delete(s.byID, c.Value)
		s.mu.Unlock()
	}
	for _, name := range []string{SessionCookie, CSRFCookie} {
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
