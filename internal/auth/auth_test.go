package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
)

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:"+string(h)+"\nroot:"+string(h)+":admin\n"), 0o600)
	p, err := New(Config{Required: true, Users: users, JWT: JWTConfig{Secret: "s3cret-s3cret-s3cret"}, Rules: []Rule{
		{Who: "*", Publish: []string{"users/%u/#"}, Subscribe: []string{"public/#", "users/%u/#", "devices/%c/+"},
			DenySubscribe: []string{"public/secret/#"}},
		{Who: "anonymous", Subscribe: []string{"public/#"}},
		{Who: "role:admin", Publish: []string{"#"}, Subscribe: []string{"#"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	alice, err := password(p, "127.0.0.1:1", "alice", "pw", "dev1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := password(p, "127.0.0.1:1", "alice", "bad", ""); err != ErrBadCredentials {
		t.Fatal(err)
	}
	if _, err := p.Anonymous(""); err != ErrNoCredentials {
		t.Fatal("anonymous accepted although credentials are required")
	}
	root, _ := password(p, "127.0.0.1:1", "root", "pw", "")
	cases := []struct {
		got, want bool
		what      string
	}{
		{p.CanPublish(alice, "users/alice/x"), true, "own topic"},
		{p.CanPublish(alice, "users/bob/x"), false, "other user's topic"},
		{p.CanRead(alice, "devices/dev1/temp"), true, "%c"},
		{p.CanRead(alice, "devices/dev2/temp"), false, "other client id"},
		{p.CanRead(alice, "public/secret/x"), false, "deny wins"},
		{p.CanRead(alice, "$SYS/broker/uptime"), false, "$SYS for admins"},
		{p.CanRead(root, "$SYS/broker/uptime"), true, "admin reads $SYS"},
		{p.CanPublish(root, "$SYS/x"), false, "nobody publishes $SYS"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v", c.what, c.got)
		}
	}
	if ok, restricted := p.CanSubscribe(alice, "#"); !ok || !restricted {
		t.Error("# should be allowed, restricted to readable topics")
	}
	if ok, restricted := p.CanSubscribe(alice, "users/alice/+"); !ok || restricted {
		t.Error("own subtree should be allowed whole")
	}
	if ok, _ := p.CanSubscribe(alice, "private/#"); ok {
		t.Error("private/# allowed")
	}
	if ok, _ := p.CanSubscribe(alice, "public/secret/x"); ok {
		t.Error("denied filter allowed")
	}
	// A user name with wildcards or levels cannot widen %u.
	evil := &Identity{User: "#", ClientID: "x"}
	if p.CanPublish(evil, "users/anyone/x") {
		t.Error("%u substituted with a wildcard")
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	p := testPolicy(t)
	sign := func(c jwt.MapClaims, method jwt.SigningMethod, key any) string {
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	key := []byte("s3cret-s3cret-s3cret")
	good := sign(jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix(),
		"streamhub": map[string]any{"publish": []string{"carol/#"}, "subscribe": []string{"feed/+"}}}, jwt.SigningMethodHS256, key)
	id, err := token(p, good, "")
	if err != nil || id.User != "carol" || !p.CanPublish(id, "carol/x") || !p.CanRead(id, "feed/a") || p.CanRead(id, "feed/a/b") {
		t.Fatalf("token rights: %+v %v", id, err)
	}
	for name, tok := range map[string]string{
		"expired":   sign(jwt.MapClaims{"sub": "c", "exp": time.Now().Add(-time.Hour).Unix()}, jwt.SigningMethodHS256, key),
		"not yet":   sign(jwt.MapClaims{"sub": "c", "exp": time.Now().Add(time.Hour).Unix(), "nbf": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256, key),
		"no exp":    sign(jwt.MapClaims{"sub": "c"}, jwt.SigningMethodHS256, key),
		"wrong key": sign(jwt.MapClaims{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodHS256, []byte("other-other-other-other")),
		"none alg":  sign(jwt.MapClaims{"sub": "c", "exp": time.Now().Add(time.Hour).Unix()}, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		"not a jwt": "abc.def.ghi",
	} {
		if _, err := token(p, tok, ""); err == nil {
			t.Errorf("%s token accepted", name)
		}
	}
}

// FuzzPolicy checks the evaluator's consistency on arbitrary topics and
// filters: an unrestricted subscription only ever matches readable topics,
// and nothing panics.
func FuzzPolicy(f *testing.F) {
	p := testPolicy(f)
	alice := &Identity{User: "alice", ClientID: "dev1"}
	for _, s := range [][2]string{{"#", "users/alice/x"}, {"users/alice/+", "users/alice/x"}, {"public/#", "public/secret/a"},
		{"devices/dev1/+", "devices/dev1/t"}, {"$SYS/#", "$SYS/x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		if topic.ValidateFilter(filter) != nil || topic.ValidateName(name) != nil {
			return
		}
		p.CanPublish(alice, name)
		ok, restricted := p.CanSubscribe(alice, filter)
		if ok && !restricted && topic.Match(filter, name) && !p.CanRead(alice, name) {
			t.Fatalf("unrestricted subscription %q would deliver unreadable %q", filter, name)
		}
	})
}

// FuzzCredentials: users-file lines and tokens of any shape never panic.
func FuzzCredentials(f *testing.F) {
	p := testPolicy(f)
	f.Add("alice:$2a$04$abcdefghijklmnopqrstuuJ9.3s3rsGy1TXpBtX8MaSr8bvYmXx6u:admin", "a.b.c")
	f.Add("::", "eyJhbGciOiJIUzI1NiJ9.e30.x")
	f.Add("name", "")
	f.Fuzz(func(t *testing.T, line, tok string) {
		parseUserLine(line)
		token(p, tok, "")
		password(p, "127.0.0.1:1", "alice", tok, "")
	})
}

func TestAsymmetricTokensAndJWKS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writePEM := func(name string, pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, name)
		os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
		return f
	}
	claims := jwt.MapClaims{"sub": "dev", "exp": time.Now().Add(time.Hour).Unix()}
	rs, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(rsaKey)
	es, _ := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(ecKey)

	p, err := New(Config{Required: true, JWT: JWTConfig{RSAKey: writePEM("rsa.pem", &rsaKey.PublicKey), ECKey: writePEM("ec.pem", &ecKey.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{"RS256": rs, "ES256": es} {
		if id, err := token(p, tok, ""); err != nil || id.User != "dev" {
			t.Errorf("%s: %v", name, err)
		}
	}

	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	set := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "r1", "n": b64(rsaKey.N.Bytes()), "e": b64(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "e1", "crv": "P-256", "x": b64(ecKey.X.Bytes()), "y": b64(ecKey.Y.Bytes())},
	}}
	raw, _ := json.Marshal(set)
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, raw, 0o600)
	p, err = New(Config{Required: true, JWT: JWTConfig{JWKS: jwks}})
	if err != nil {
		t.Fatal(err)
	}
	kidToken := func(m jwt.SigningMethod, kid string, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = kid
		s, _ := tok.SignedString(key)
		return s
	}
	for name, tok := range map[string]string{"JWKS RSA": kidToken(jwt.SigningMethodRS256, "r1", rsaKey), "JWKS EC": kidToken(jwt.SigningMethodES256, "e1", ecKey)} {
		if _, err := token(p, tok, ""); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := token(p, kidToken(jwt.SigningMethodRS256, "r1", other), ""); err == nil {
		t.Error("token signed by another key accepted")
	}
}

// TestUnknownUserCostsABcrypt checks that a wrong password for an unknown
// name does the same bcrypt work as one for a known name (issue 14 item 4:
// unknown names answered in 0.4 ms against 52 ms, enumerating users).
func TestUnknownUserCostsABcrypt(t *testing.T) {
	const cost = bcrypt.MinCost + 1
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), cost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:"+string(h)+"\n"), 0o600)
	p, err := New(Config{Required: true, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	var costs []int
	compare := p.compareHash
	p.compareHash = func(hash, password []byte) error {
		c, err := bcrypt.Cost(hash)
		if err != nil {
			t.Errorf("compared against a non-bcrypt hash %q: %v", hash, err)
		}
		costs = append(costs, c)
		return compare(hash, password)
	}
	for _, name := range []string{"alice", "nobody", ""} {
		costs = costs[:0]
		if _, err := password(p, "127.0.0.1:1", name, "wrong", ""); err != ErrBadCredentials {
			t.Errorf("Password(%q, wrong) = %v, want ErrBadCredentials", name, err)
		}
		if len(costs) != 1 || costs[0] != cost {
			t.Errorf("Password(%q, wrong) ran bcrypt at costs %v, want one comparison at cost %d", name, costs, cost)
		}
	}
	if _, err := password(p, "127.0.0.1:1", "alice", "pw", ""); err != nil {
		t.Errorf("alice with the right password: %v", err)
	}
}

// TestFailedPasswordsLimitedPerAddress: after Failures wrong passwords from
// one address, its next check, even with the right password, is refused
// with limit.ErrTooManyFailures without running bcrypt, while another
// address still signs in.
func TestFailedPasswordsLimitedPerAddress(t *testing.T) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:"+string(h)+"\n"), 0o600)
	const failures = 3
	p, err := New(Config{Required: true, Users: users, Failures: failures, FailureInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	compare := p.compareHash
	p.compareHash = func(hash, password []byte) error {
		compared++
		return compare(hash, password)
	}
	for i := range failures {
		if _, err := password(p, "192.0.2.7:4000", "alice", "wrong", ""); err != ErrBadCredentials {
			t.Fatalf("wrong password %d: %v, want ErrBadCredentials", i+1, err)
		}
	}
	before := compared
	for _, pw := range []string{"wrong", "pw"} {
		if _, err := password(p, "192.0.2.7:4001", "alice", pw, ""); !errors.Is(err, limit.ErrTooManyFailures) {
			t.Errorf("password %q after %d failures: %v, want ErrTooManyFailures", pw, failures, err)
		}
	}
	if compared != before {
		t.Errorf("bcrypt ran %d times for a refused address", compared-before)
	}
	if _, err := password(p, "192.0.2.8:4000", "alice", "pw", ""); err != nil {
		t.Errorf("another address with the right password: %v", err)
	}
}

// password and token log in as a client without a protocol would.
func password(p *Policy, remote, user, pw, clientID string) (*Identity, error) {
	return p.Login(context.Background(), Credentials{Remote: remote, User: user, Password: pw, ClientID: clientID})
}

func token(p *Policy, tok, clientID string) (*Identity, error) {
	return p.Login(context.Background(), Credentials{Token: tok, ClientID: clientID})
}
