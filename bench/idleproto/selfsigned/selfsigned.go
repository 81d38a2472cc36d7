// Package selfsigned makes a throwaway TLS server configuration (ECDSA
// P-256 by default, or RSA-2048; 127.0.0.1) for the TLS variants of the idle
// prototypes.
package selfsigned

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// ServerConfig returns a TLS configuration with a fresh self-signed ECDSA
// P-256 certificate for 127.0.0.1.
func ServerConfig() (*tls.Config, error) { return ServerConfigKey("ecdsa") }

// ServerConfigKey is ServerConfig with the key type named: "ecdsa" (P-256)
// or "rsa" (2048 bits).
func ServerConfigKey(kind string) (*tls.Config, error) {
	var key crypto.Signer
	var err error
	usage := x509.KeyUsageDigitalSignature
	switch kind {
	case "ecdsa", "":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
		usage |= x509.KeyUsageKeyEncipherment
	default:
		return nil, fmt.Errorf("selfsigned: key type %q: want ecdsa or rsa", kind)
	}
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idleproto"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     usage,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}
