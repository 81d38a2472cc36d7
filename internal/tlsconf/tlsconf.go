// Package tlsconf builds the TLS configuration every listener shares:
// TLS 1.2 and up, the certificate reloaded when its files change, and
// optional client certificates verified against a CA.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloader serves the current certificate, re-reading the files when their
// modification time changes (checked at most once a second).
type reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	mu                sync.Mutex
	cert              *tls.Certificate
	mod               time.Time
	checked           time.Time
}

func modTime(files ...string) time.Time {
	var latest time.Time
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(latest) {
			latest = st.ModTime()
		}
	}
	return latest
}

func (r *reloader) load() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load %s: %w", r.certFile, err)
	}
	r.cert, r.mod = &cert, modTime(r.certFile, r.keyFile)
	return nil
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.checked) > time.Second {
		r.checked = now
		if m := modTime(r.certFile, r.keyFile); m.After(r.mod) {
			if err := r.load(); err != nil {
				r.log.Error("keeping the previous certificate", "err", err)
			} else {
				r.log.Info("reloaded TLS certificate", "file", r.certFile)
			}
		}
	}
	return r.cert, nil
}

// Config returns a server TLS configuration for the certificate and key
// files; with clientCA set, clients may present certificates signed by it
// (verified; the transports map them to users).
func Config(certFile, keyFile, clientCA string, log *slog.Logger) (*tls.Config, error) {
	r := &reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{GetCertificate: r.get, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pem, err := os.ReadFile(clientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s holds no certificate", clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// PeerUser returns the common name of a verified client certificate.
func PeerUser(st *tls.ConnectionState) string {
	if st == nil || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	return st.VerifiedChains[0][0].Subject.CommonName
}
