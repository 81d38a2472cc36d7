package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are a token's: the standard ones, roles, and the topics the
// holder may publish and subscribe to, as Mercure's and Centrifugo's tokens
// carry them.
type Claims struct {
	jwt.RegisteredClaims
	Roles     []string `json:"roles,omitempty"`
	Streamhub struct {
		Publish   []string `json:"publish,omitempty"`
		Subscribe []string `json:"subscribe,omitempty"`
	} `json:"streamhub"`
}

// keys holds the verification keys by algorithm family and key id.
type keys struct {
	hmac   []byte
	rsa    []*rsa.PublicKey
	ecdsa  []*ecdsa.PublicKey
	byKid  map[string]crypto.PublicKey
	parser *jwt.Parser
}

func (k *keys) empty() bool {
	return k.hmac == nil && len(k.rsa) == 0 && len(k.ecdsa) == 0 && len(k.byKid) == 0
}

func (k *keys) keyFunc(t *jwt.Token) (any, error) {
	if kid, ok := t.Header["kid"].(string); ok && k.byKid[kid] != nil {
		return k.byKid[kid], nil
	}
	switch t.Method.(type) {
	case *jwt.SigningMethodHMAC:
		if k.hmac != nil {
			return k.hmac, nil
		}
	case *jwt.SigningMethodRSA:
		if len(k.rsa) > 0 {
			return k.rsa[0], nil
		}
	case *jwt.SigningMethodECDSA:
		if len(k.ecdsa) > 0 {
			return k.ecdsa[0], nil
		}
	}
	return nil, errors.New("no key for this token's algorithm")
}

// verify parses and checks a token: signature, algorithm, exp and nbf.
func (k *keys) verify(token string) (*Claims, error) {
	if k.empty() {
		return nil, ErrBadToken
	}
	var c Claims
	if _, err := k.parser.ParseWithClaims(token, &c, k.keyFunc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	return &c, nil
}

func newKeys(cfg JWTConfig) (*keys, error) {
	k := &keys{byKid: map[string]crypto.PublicKey{},
		parser: jwt.NewParser(jwt.WithValidMethods([]string{"HS256", "RS256", "ES256"}), jwt.WithExpirationRequired())}
	if cfg.Secret != "" {
		k.hmac = []byte(cfg.Secret)
	}
	if cfg.RSAKey != "" {
		b, err := os.ReadFile(cfg.RSAKey)
		if err != nil {
			return nil, fmt.Errorf("auth: RS256 key: %w", err)
		}
		pub, err := jwt.ParseRSAPublicKeyFromPEM(b)
		if err != nil {
			return nil, fmt.Errorf("auth: RS256 key: %w", err)
		}
		k.rsa = append(k.rsa, pub)
	}
	if cfg.ECKey != "" {
		b, err := os.ReadFile(cfg.ECKey)
		if err != nil {
			return nil, fmt.Errorf("auth: ES256 key: %w", err)
		}
		pub, err := jwt.ParseECPublicKeyFromPEM(b)
		if err != nil {
			return nil, fmt.Errorf("auth: ES256 key: %w", err)
		}
		k.ecdsa = append(k.ecdsa, pub)
	}
	if cfg.JWKS != "" {
		b, err := os.ReadFile(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("auth: JWKS: %w", err)
		}
		if err := k.addJWKS(b); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// addJWKS loads RSA and P-256 public keys from a JSON Web Key Set.
func (k *keys) addJWKS(b []byte) error {
	var set struct {
		Keys []struct {
			Kty, Kid, Crv, N, E, X, Y string
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("auth: JWKS: %w", err)
	}
	num := func(s string) (*big.Int, error) {
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(raw) == 0 {
			return nil, fmt.Errorf("auth: JWKS: bad number %q", s)
		}
		return new(big.Int).SetBytes(raw), nil
	}
	for _, jk := range set.Keys {
		var pub crypto.PublicKey
		switch jk.Kty {
		case "RSA":
			n, err := num(jk.N)
			if err != nil {
				return err
			}
			e, err := num(jk.E)
			if err != nil || !e.IsInt64() || e.Int64() > 1<<31 {
				return fmt.Errorf("auth: JWKS: bad RSA exponent")
			}
			rk := &rsa.PublicKey{N: n, E: int(e.Int64())}
			k.rsa = append(k.rsa, rk)
			pub = rk
		case "EC":
			if jk.Crv != "P-256" {
				continue
			}
			x, err := num(jk.X)
			if err != nil {
				return err
			}
			y, err := num(jk.Y)
			if err != nil {
				return err
			}
			ek := &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
			k.ecdsa = append(k.ecdsa, ek)
			pub = ek
		default:
			continue
		}
		if jk.Kid != "" {
			k.byKid[jk.Kid] = pub
		}
	}
	return nil
}
