// Package auth is streamhub's one security policy: it authenticates the
// credentials each protocol can carry (a user name and bcrypt-hashed
// password from a users file, or a JWT) and decides, with one evaluator for
// every protocol, what each identity may publish and subscribe to.
package auth

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Identity is who a connection is.
type Identity struct {
	User     string
	ClientID string
	Roles    []string
	// Rights the credentials carry (a JWT's claims, the HTTP service's
	// answer), in addition to the ACL's; nil: none. A pointer, so that the
	// identity every connection holds stays small without them.
	Rights *Rights
	// expires is when the JWT that proved the identity expires, in Unix
	// nanoseconds (0 for other credentials): 8 bytes where a time.Time
	// takes 24, in the identity every connection holds (Expires).
	expires   int64
	Anonymous bool
}

// Expires is when the JWT that proved the identity expires (zero for
// other credentials): nothing derived from it may last longer.
func (id *Identity) Expires() time.Time {
	if id.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, id.expires)
}

// Rights are filters an identity's credentials allow or deny; deny wins.
type Rights struct {
	Publish, Subscribe         []string
	DenyPublish, DenySubscribe []string
}

// Admin reports whether the identity has the admin role (needed for $SYS).
func (id *Identity) Admin() bool {
	for _, r := range id.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

// Errors of authentication; transports map them onto their protocol
// (MQTT 0x86, HTTP 401, ...).
var (
	ErrNoCredentials  = errors.New("authentication required")
	ErrBadCredentials = errors.New("bad user name or password")
	ErrBadToken       = errors.New("invalid or expired token")
)

type user struct {
	hash  []byte
	roles []string
}

// loadUsers reads a users file: one "name:bcrypt-hash[:role,role]" per
// line; blank lines and lines starting with # are ignored.
func loadUsers(path string) (map[string]user, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	defer f.Close()
	users := map[string]user{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, u, err := parseUserLine(line)
		if err != nil {
			return nil, fmt.Errorf("auth: %s line %d: %w", path, n, err)
		}
		users[name] = u
	}
	return users, sc.Err()
}

func parseUserLine(line string) (string, user, error) {
	parts := strings.SplitN(line, ":", 3)
	if len(parts) < 2 || parts[0] == "" {
		return "", user{}, errors.New(`want "name:bcrypt-hash[:roles]"`)
	}
	if _, err := bcrypt.Cost([]byte(parts[1])); err != nil {
		return "", user{}, fmt.Errorf("user %q: not a bcrypt hash: %w", parts[0], err)
	}
	u := user{hash: []byte(parts[1])}
	if len(parts) == 3 && parts[2] != "" {
		u.roles = strings.Split(parts[2], ",")
	}
	return parts[0], u, nil
}

// dummyHash is a bcrypt hash at the highest cost the users file uses, for
// unknown names to be compared against (see Policy.dummyHash). With no
// users there are no names to tell apart, and no hash.
func dummyHash(users map[string]user) ([]byte, error) {
	highest := 0
	for _, u := range users {
		if c, err := bcrypt.Cost(u.hash); err == nil && c > highest {
			highest = c
		}
	}
	if highest == 0 {
		return nil, nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte("no such user"), highest)
	if err != nil {
		return nil, fmt.Errorf("auth: dummy hash: %w", err)
	}
	return h, nil
}
