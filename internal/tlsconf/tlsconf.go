// Package tlsconf builds the TLS configuration every listener shares:
// TLS 1.2 and up, the certificate reloaded when its files' contents change, and
// optional client certificates verified against a CA.
package tlsconf

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// reloader serves the current certificate, re-reading the files when they
// change (checked at most once a second). A change is any difference in
// content, not a newer modification time: a backup restored with `cp -p`,
// `rsync -a` or `mv` keeps its older time and must still be loaded. The
// files are a few kilobytes, so reading and hashing them once a second is
// cheap.
type reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	mu                sync.Mutex
	cert              *tls.Certificate
	loaded            [sha256.Size]byte // hash of the loaded files' contents
	checked           time.Time
}

// readPair reads the certificate and key files and hashes their contents.
func (r *reloader) readPair() (certPEM, keyPEM []byte, sum [sha256.Size]byte, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, sum, fmt.Errorf("tls: read certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, sum, fmt.Errorf("tls: read key: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0}) // so moving bytes from one file to the other is a change
	h.Write(keyPEM)
	copy(sum[:], h.Sum(nil))
	return certPEM, keyPEM, sum, nil
}

// reloadIfChanged loads the files when their contents differ from the
// loaded ones; changed reports whether they did.
func (r *reloader) reloadIfChanged() (changed bool, err error) {
	certPEM, keyPEM, sum, err := r.readPair()
	if err != nil || sum == r.loaded {
		return false, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return true, fmt.Errorf("tls: load %s: %w", r.certFile, err)
	}
	r.cert, r.loaded = &cert, sum
	return true, nil
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) > time.Second {
		r.checked = now
		switch changed, err := r.reloadIfChanged(); {
		case err != nil:
			r.log.Error("keeping the previous certificate", "err", err)
		case changed:
			r.log.Info("reloaded TLS certificate", "file", r.certFile)
		}
	}
	return r.cert, nil
}

// Config returns a server TLS configuration for the certificate and key
// files; with clientCA set, clients may present certificates signed by it
// (verified; the transports map them to users).
func Config(certFile, keyFile, clientCA string, log *slog.Logger) (*tls.Config, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := r.reloadIfChanged(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{GetCertificate: r.get, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := CAPool(clientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// CAPool reads the PEM certificates of a CA file.
func CAPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA %s holds no certificate", file)
	}
	return pool, nil
}

// ConnUser is PeerUser of nc's TLS connection (crypto/tls's, or
// tls13rec's): nc itself, or the one nc wraps and returns from NetConn (as
// net/http's and gortsplib's wrappers do); "" without TLS or a verified
// client certificate.
func ConnUser(nc net.Conn) string {
	for nc != nil {
		if tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
			st := tc.ConnectionState()
			return PeerUser(&st)
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return ""
		}
		nc = w.NetConn()
	}
	return ""
}

// PeerUser returns the common name of a verified client certificate.
func PeerUser(st *tls.ConnectionState) string {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}
