package auth

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/testkit/poll"
)

// loginService is an auth.http service for tests: answer decides each
// call; the calls and their headers are kept.
type loginService struct {
	*httptest.Server
	answer  func(callbackRequest) (status int, body string)
	mu      sync.Mutex
	calls   []callbackRequest
	headers []http.Header
}

func newLoginService(t testing.TB, answer func(callbackRequest) (int, string)) *loginService {
	t.Helper()
	s := &loginService{answer: answer}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *loginService) serve(w http.ResponseWriter, r *http.Request) {
	var req callbackRequest
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, req)
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	// A held answer ends with the request, or the server's Close would
	// wait for it.
	var status int
	var body string
	answered := make(chan struct{})
	go func() {
		status, body = s.answer(req)
		close(answered)
	}()
	select {
	case <-answered:
	case <-r.Context().Done():
		return
	}
	w.WriteHeader(status)
	w.Write([]byte(body))
}

func (s *loginService) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// devAnswer allows dev with password dev-pw, and the token dev-token, with
// rights on devices/dev/#; it denies everything else.
func devAnswer(req callbackRequest) (int, string) {
	if req.Username == "dev" && req.Password == "dev-pw" || req.Token == "dev-token" {
		return http.StatusOK, `{"result":"allow","user":"dev","roles":["ops"],"publish":["devices/dev/#"],
			"subscribe":["devices/dev/#","public/#"],"denysubscribe":["public/secret/#"]}`
	}
	return http.StatusOK, `{"result":"deny"}`
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu             sync.Mutex
	results, cache []string
}

func (r *recorder) AuthCallback(result string, _ time.Duration, _ error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, result)
}

func (r *recorder) AuthCallbackCached(result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cache = append(r.cache, result)
}

func (r *recorder) seen() (results, cache []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.results), slices.Clone(r.cache)
}

// callbackPolicy is a policy with a users file (alice:pw), an HS256 key,
// a rule for everyone authenticated and the service at url.
func callbackPolicy(t testing.TB, url string, mutate func(*Config)) (*Policy, *recorder) {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:"+string(h)+"\n"), 0o600)
	rec := &recorder{}
	cfg := Config{Required: true, Users: users, JWT: JWTConfig{Secret: "s3cret-s3cret-s3cret"}, Observer: rec,
		Rules: []Rule{{Who: "*", Subscribe: []string{"everyone/#"}}, {Who: "anonymous", Subscribe: []string{"guests/#"}}},
		HTTP:  HTTPConfig{URL: url, Timeout: 10 * time.Second, Cache: time.Minute, DenyCache: time.Minute, CacheSize: 100}}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, rec
}

func login(p *Policy, c Credentials) (*Identity, error) { return p.Login(context.Background(), c) }

var devLogin = Credentials{Protocol: "mqtt", Remote: "192.0.2.1:5000", User: "dev", Password: "dev-pw", ClientID: "sensor-1"}

// TestCallbackGrantsRights: the service is sent the login as JSON with the
// configured headers, and its answer's name, roles and filters are the
// identity's, on top of the ACL's rules.
func TestCallbackGrantsRights(t *testing.T) {
	t.Parallel()
	svc := newLoginService(t, devAnswer)
	p, _ := callbackPolicy(t, svc.URL, func(c *Config) {
		c.HTTP.Headers, c.HTTP.Bearer = []string{"X-Api-Key: k1"}, "svc-secret"
	})
	id, err := login(p, devLogin)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "dev" || id.ClientID != "sensor-1" || !slices.Equal(id.Roles, []string{"ops"}) || id.Anonymous {
		t.Errorf("identity %+v", id)
	}
	for _, c := range []struct {
		what      string
		got, want bool
	}{
		{"publish own", p.CanPublish(id, "devices/dev/temp"), true},
		{"publish other", p.CanPublish(id, "devices/other/temp"), false},
		{"read public", p.CanRead(id, "public/news"), true},
		{"read denied", p.CanRead(id, "public/secret/x"), false},
		{"read the ACL's", p.CanRead(id, "everyone/x"), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if ok, _ := p.CanSubscribe(id, "public/secret/#"); ok {
		t.Error("subscription to a denied subtree allowed")
	}
	want := callbackRequest{Protocol: "mqtt", Remote: "192.0.2.1:5000", Username: "dev", Password: "dev-pw", ClientID: "sensor-1"}
	if svc.count() != 1 || svc.calls[0] != want {
		t.Errorf("calls %+v, want one %+v", svc.calls, want)
	}
	h := svc.headers[0]
	if h.Get("Authorization") != "Bearer svc-secret" || h.Get("X-Api-Key") != "k1" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
}

// TestLocalSourcesFirst: a name the users file lists and a token the JWT
// key verifies are decided without a call; an unknown name and a token the
// key does not verify go to the service.
func TestLocalSourcesFirst(t *testing.T) {
	t.Parallel()
	svc := newLoginService(t, devAnswer)
	p, _ := callbackPolicy(t, svc.URL, nil)
	if _, err := login(p, Credentials{User: "alice", Password: "pw"}); err != nil {
		t.Errorf("users file: %v", err)
	}
	if _, err := login(p, Credentials{User: "alice", Password: "dev-pw"}); err != ErrBadCredentials {
		t.Errorf("users file, wrong password: %v", err)
	}
	if _, err := login(p, Credentials{Token: signHS256(t, "carol", "s3cret-s3cret-s3cret")}); err != nil {
		t.Errorf("JWT: %v", err)
	}
	if n := svc.count(); n != 0 {
		t.Fatalf("%d calls for logins the users file and the JWT key decide", n)
	}
	if id, err := login(p, Credentials{Protocol: "http", Token: "dev-token"}); err != nil || id.User != "dev" {
		t.Errorf("opaque token: %+v %v", id, err)
	}
	forged := signHS256(t, "dev", "another-key-another-key")
	if _, err := login(p, Credentials{Protocol: "tcp", Password: forged}); err != ErrBadToken {
		t.Errorf("token the key does not verify, denied: %v, want ErrBadToken", err)
	}
	if svc.count() != 2 || svc.calls[0].Token != "dev-token" || svc.calls[1].Token != forged || svc.calls[1].Username != "" {
		t.Errorf("calls %+v", svc.calls)
	}
}

func signHS256(t testing.TB, sub, key string) string {
	t.Helper()
	s, err := signToken(sub, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCallbackCache: an answer is reused for the same credentials until
// its time is up, allow and deny alike; other credentials are asked about;
// a cached deny still counts as a wrong password.
func TestCallbackCache(t *testing.T) {
	t.Parallel()
	svc := newLoginService(t, devAnswer)
	p, rec := callbackPolicy(t, svc.URL, func(c *Config) {
		c.HTTP.DenyCache = 10 * time.Second
		c.Failures, c.FailureInterval = 2, time.Hour
	})
	var mu sync.Mutex
	now := time.Now()
	p.callback.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	for range 3 {
		if _, err := login(p, devLogin); err != nil {
			t.Fatal(err)
		}
	}
	other := devLogin
	other.ClientID = "sensor-2"
	login(p, other)
	if n := svc.count(); n != 2 {
		t.Fatalf("%d calls for 3 logins with one set of credentials and 1 with another, want 2", n)
	}
	advance(time.Minute)
	login(p, devLogin)
	if n := svc.count(); n != 3 {
		t.Fatalf("%d calls after the answer's time was up, want 3", n)
	}

	wrong := Credentials{Protocol: "mqtt", Remote: "192.0.2.9:1", User: "dev", Password: "guess"}
	for range 2 {
		if _, err := login(p, wrong); err != ErrBadCredentials {
			t.Fatalf("denied login: %v", err)
		}
	}
	if _, err := login(p, wrong); !errors.Is(err, limit.ErrTooManyFailures) {
		t.Errorf("third wrong password (one answered from the cache): %v, want too many failures", err)
	}
	results, cache := rec.seen()
	if !slices.Equal(results, []string{"allow", "allow", "allow", "deny"}) || !slices.Equal(cache, []string{"allow", "allow", "deny"}) {
		t.Errorf("observed calls %v and cache hits %v", results, cache)
	}
}

// TestCallbackSingleFlight: logins with the same credentials while a call
// is under way wait for it rather than making their own.
func TestCallbackSingleFlight(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	svc := newLoginService(t, func(req callbackRequest) (int, string) {
		<-release
		return devAnswer(req)
	})
	p, _ := callbackPolicy(t, svc.URL, func(c *Config) { c.HTTP.Cache = 0 })
	var joined atomic.Int64
	p.callback.joined = func() { joined.Add(1) }
	const logins = 20
	errs := make(chan error, logins)
	for range logins {
		go func() {
			_, err := login(p, devLogin)
			errs <- err
		}()
	}
	poll.Eventually(t, 10*time.Second, "every login waiting", func() bool { return joined.Load() == logins })
	close(release)
	for range logins {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := svc.count(); n != 1 {
		t.Errorf("%d calls for %d simultaneous logins, want 1", n, logins)
	}
}

// TestCallbackFailures: a service that is down, slow, refusing, or
// answering nonsense refuses the login with ErrUnavailable (fail closed),
// or lets it in as anonymous (fail open: the name is unproven); failures
// are not cached.
func TestCallbackFailures(t *testing.T) {
	t.Parallel()
	slowDone := make(chan struct{})
	t.Cleanup(func() { close(slowDone) })
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	redirect := newLoginService(t, func(callbackRequest) (int, string) { return http.StatusTemporaryRedirect, "" })
	for _, c := range []struct {
		name, result string
		answer       func(callbackRequest) (int, string)
		url          string
	}{
		{name: "down", result: ResultError, url: down.URL},
		{name: "slow", result: ResultTimeout, answer: func(callbackRequest) (int, string) { <-slowDone; return 200, "" }},
		{name: "refusing", result: ResultError, answer: func(callbackRequest) (int, string) { return 503, "busy" }},
		{name: "not JSON", result: ResultError, answer: func(callbackRequest) (int, string) { return 200, "yes" }},
		{name: "unknown result", result: ResultError, answer: func(callbackRequest) (int, string) { return 200, `{"result":"maybe"}` }},
		{name: "bad filter", result: ResultError, answer: func(callbackRequest) (int, string) {
			return 200, `{"result":"allow","publish":["a/#/b"]}`
		}},
		{name: "redirect", result: ResultError, url: redirect.URL},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := c.url
			if c.answer != nil {
				url = newLoginService(t, c.answer).URL
			}
			for _, open := range []bool{false, true} {
				p, rec := callbackPolicy(t, url, func(cfg *Config) {
					cfg.HTTP.FailOpen, cfg.HTTP.Timeout = open, 300*time.Millisecond
				})
				for range 2 {
					id, err := login(p, devLogin)
					switch {
					case !open && !errors.Is(err, ErrUnavailable):
						t.Errorf("fail closed: %+v %v, want ErrUnavailable", id, err)
					case open && (err != nil || !id.Anonymous || p.CanPublish(id, "devices/dev/x") || p.CanRead(id, "everyone/x") || !p.CanRead(id, "guests/x")):
						t.Errorf("fail open: %+v %v, want an anonymous identity with the anonymous rule's rights only", id, err)
					}
				}
				if results, cache := rec.seen(); !slices.Equal(results, []string{c.result, c.result}) || len(cache) != 0 {
					t.Errorf("open=%v: observed %v, cache hits %v; want two calls with result %s", open, results, cache, c.result)
				}
			}
		})
	}
}

// TestCallbackStatuses: 401 and 403 deny; 204 (no body) allows with the
// ACL's rights and the name sent.
func TestCallbackStatuses(t *testing.T) {
	t.Parallel()
	svc := newLoginService(t, func(req callbackRequest) (int, string) {
		switch req.Username {
		case "u401":
			return http.StatusUnauthorized, ""
		case "u403":
			return http.StatusForbidden, `{"result":"allow"}`
		}
		return http.StatusNoContent, ""
	})
	p, _ := callbackPolicy(t, svc.URL, nil)
	for _, u := range []string{"u401", "u403"} {
		if _, err := login(p, Credentials{User: u, Password: "x"}); err != ErrBadCredentials {
			t.Errorf("%s: %v, want ErrBadCredentials", u, err)
		}
	}
	if id, err := login(p, Credentials{User: "u204", Password: "x"}); err != nil || id.User != "u204" || !p.CanRead(id, "everyone/x") {
		t.Errorf("204: %+v %v", id, err)
	}
}

// TestCallbackHTTPS: an https service is trusted through auth.http.ca, and
// not without it.
func TestCallbackHTTPS(t *testing.T) {
	t.Parallel()
	svc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"result":"allow"}`))
	}))
	t.Cleanup(svc.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: svc.Certificate().Raw}), 0o600)
	p, _ := callbackPolicy(t, svc.URL, func(c *Config) { c.HTTP.CA = ca })
	if _, err := login(p, devLogin); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	p, _ = callbackPolicy(t, svc.URL, nil)
	if _, err := login(p, devLogin); !errors.Is(err, ErrUnavailable) {
		t.Errorf("without the CA: %v, want ErrUnavailable", err)
	}
}

func signToken(sub, key string) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(key))
}

// FuzzCallbackAnswer: whatever a login service answers, decoding it never
// panics, and an allow carries only valid filters.
func FuzzCallbackAnswer(f *testing.F) {
	for _, seed := range []string{"", "{}", `{"result":"deny"}`, `{"result":"allow","user":"u","roles":["admin"]}`,
		`{"result":"allow","publish":["a/+/b"],"subscribe":["#"],"denypublish":["a/b"],"denysubscribe":["$SYS/#"]}`,
		`{"result":"allow","publish":["a/#/b"]}`, `{"result":"allow","subscribe":[""]}`, `{"result":1}`, "null", "[]"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := decodeAnswer(raw, "sent")
		if err != nil || !v.allow {
			return
		}
		r := v.id.Rights
		if r == nil {
			return
		}
		for _, list := range [][]string{r.Publish, r.Subscribe, r.DenyPublish, r.DenySubscribe} {
			for _, filter := range list {
				if topic.ValidateFilter(filter) != nil {
					t.Fatalf("allowed with an invalid filter %q", filter)
				}
			}
		}
		if v.id.User == "" {
			t.Fatal("allowed without a name though one was sent")
		}
	})
}
