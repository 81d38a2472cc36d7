package tls13rec

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net"
	"slices"
	"sync"

	"streamhub/internal/tlsconf"
)

// NewListener is tls.NewListener (with tlsconf's ClientHello cut) whose
// connections, *Conn, switch to this package's records once a TLS 1.3
// handshake is done.
func NewListener(inner net.Listener, cfg *tls.Config) net.Listener {
	return &listener{Listener: inner, cfg: handoverConfig(cfg)}
}

type listener struct {
	net.Listener
	cfg *tls.Config
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return server(nc, l.cfg), nil
}

// Server returns the server side of a TLS connection over nc, as
// tls.Server does; its handshake runs on the first Read, Write or
// Handshake.
func Server(nc net.Conn, cfg *tls.Config) *Conn {
	return server(nc, handoverConfig(cfg))
}

func server(nc net.Conn, cfg *tls.Config) *Conn {
	c := &Conn{nc: nc}
	h := &handover{under: &recordReader{Conn: nc}}
	h.tc = tlsconf.Server(h.under, cfg)
	c.hs.Store(h)
	return c
}

// handover is a connection's handshake: crypto/tls's connection over a
// reader that stops at record boundaries, and the traffic secrets its
// key log hands over.
type handover struct {
	mu    sync.Mutex
	tc    *tls.Conn
	under *recordReader
	done  bool
	err   error
}

// HandshakeContext runs crypto/tls's handshake if it has not run yet;
// after a TLS 1.3 handshake whose secrets came out and after which
// crypto/tls holds nothing, the connection switches to its own records
// and crypto/tls's connection is dropped. Anything else stays on
// crypto/tls (TLS 1.2).
func (c *Conn) HandshakeContext(ctx context.Context) error {
	h := c.hs.Load()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return h.err
	}
	if err := h.tc.HandshakeContext(ctx); err != nil {
		h.done, h.err = true, err
		return err
	}
	h.done = true
	c.switchFrom(h)
	c.hs.Store(nil)
	return nil
}

// switchFrom takes the handshake's outcome: the secrets and the state the
// records need, or crypto/tls's connection to keep.
func (c *Conn) switchFrom(h *handover) {
	st := h.tc.ConnectionState()
	si, found := suiteByID(st.CipherSuite)
	s := si.get()
	keys := &h.under.keys
	if st.Version != tls.VersionTLS13 || !found || !h.under.atBoundary() ||
		keys.client.n != s.hashed || keys.server.n != s.hashed {
		c.after = &afterHandshake{tc: h.tc}
		return
	}
	tickets, ok := h.under.sentWith(s, keys.server.secret[:s.hashed])
	if !ok {
		c.after = &afterHandshake{tc: h.tc}
		return
	}
	c.suite = si
	c.in.secret, c.out.secret = keys.client.secret, keys.server.secret
	c.out.seq = tickets // the session tickets went out with the key
	clear(keys.client.secret[:])
	clear(keys.server.secret[:])
	if st.ServerName != "" || st.NegotiatedProtocol != "" || len(st.PeerCertificates) > 0 {
		c.after = &afterHandshake{serverName: st.ServerName, protocol: st.NegotiatedProtocol,
			certs: st.PeerCertificates, chains: st.VerifiedChains}
	}
}

// handoverConfig is cfg whose TLS 1.3 handshakes give their traffic
// secrets to the connection. cfg's own GetConfigForClient, and with it
// the certificate reload, keeps working: its answer is what the
// connection's configuration is cloned from.
func handoverConfig(cfg *tls.Config) *tls.Config {
	base := cfg.Clone()
	inner := cfg.GetConfigForClient
	base.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		var chosen *tls.Config
		if inner != nil {
			var err error
			if chosen, err = inner(hello); err != nil {
				return nil, err
			}
		}
		r := findRecordReader(hello.Conn)
		from := chosen
		if from == nil {
			from = cfg
		}
		if r == nil || !slices.Contains(hello.SupportedVersions, tls.VersionTLS13) ||
			(from.MaxVersion != 0 && from.MaxVersion < tls.VersionTLS13) {
			return chosen, nil
		}
		per := from.Clone()
		per.GetConfigForClient = nil
		r.keys.also = from.KeyLogWriter
		per.KeyLogWriter = &r.keys
		return per, nil
	}
	return base
}

// findRecordReader finds the recordReader under the connection crypto/tls
// reads (tlsconf's ClientHello cut wraps it).
func findRecordReader(nc net.Conn) *recordReader {
	for nc != nil {
		if r, ok := nc.(*recordReader); ok {
			return r
		}
		w, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = w.NetConn()
	}
	return nil
}

// recordReader is the connection under crypto/tls during the handshake:
// its reads never go past the end of the record being read, so that once
// the handshake is done crypto/tls holds no record read ahead (the
// client's first application data stays in the socket for the switched
// connection), it keeps the secrets crypto/tls logs and a copy of the
// protected records it writes.
type recordReader struct {
	net.Conn
	hdr  [headerLen]byte
	hdrN int // header bytes read of the next record
	left int // bytes left of the record's body
	keys keyLog

	// The records crypto/tls writes (capture): the header being written,
	// the body bytes left of the record, whether it is kept, the protected
	// records kept and their size.
	wHdr     [headerLen]byte
	wHdrN    int
	wLeft    int
	wKeep    bool
	overflow bool
	sent     [][]byte
	captured int
}

// NetConn returns the connection underneath.
func (r *recordReader) NetConn() net.Conn { return r.Conn }

func (r *recordReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		n, err := r.Conn.Read(p[:min(len(p), headerLen-r.hdrN)])
		r.hdrN += copy(r.hdr[r.hdrN:], p[:n])
		if r.hdrN == headerLen {
			r.hdrN, r.left = 0, int(binary.BigEndian.Uint16(r.hdr[3:]))
		}
		return n, err
	}
	n, err := r.Conn.Read(p[:min(len(p), r.left)])
	r.left -= n
	return n, err
}

// Write passes crypto/tls's records on and keeps a copy of its protected
// ones (the handshake's flight and the session tickets after it): the
// tickets are sealed with the application key, and the switched
// connection's first record must follow them (sentWith).
func (r *recordReader) Write(p []byte) (int, error) {
	r.capture(p)
	return r.Conn.Write(p)
}

// maxCaptured bounds what a handshake's copy of its protected records may
// hold; past it the connection stays on crypto/tls.
const maxCaptured = 64 << 10

func (r *recordReader) capture(p []byte) {
	for len(p) > 0 && !r.overflow {
		if r.wLeft == 0 {
			k := copy(r.wHdr[r.wHdrN:], p)
			r.wHdrN += k
			p = p[k:]
			if r.wHdrN < headerLen {
				return
			}
			r.wHdrN, r.wLeft = 0, int(binary.BigEndian.Uint16(r.wHdr[3:]))
			r.wKeep = r.wHdr[0] == typeApplicationData
			if r.wKeep {
				if r.captured += headerLen + r.wLeft; r.captured > maxCaptured {
					r.overflow = true
					return
				}
				r.sent = append(r.sent, append(make([]byte, 0, headerLen+r.wLeft), r.wHdr[:]...))
			}
			continue
		}
		k := min(len(p), r.wLeft)
		if r.wKeep {
			last := &r.sent[len(r.sent)-1]
			*last = append(*last, p[:k]...)
		}
		r.wLeft -= k
		p = p[k:]
	}
}

// sentWith is how many of the protected records crypto/tls wrote were
// sealed with the server's application traffic secret: the session
// tickets, the last ones written (sequence numbers 0, 1, ...), told apart
// from the handshake's by whether they open with that key. ok is false
// where the copy is incomplete or the records are not in that order.
func (r *recordReader) sentWith(s *suite, secret []byte) (n uint64, ok bool) {
	if r.overflow || r.wHdrN != 0 || r.wLeft != 0 {
		return 0, false
	}
	if len(r.sent) == 0 {
		return 0, true
	}
	k, err := s.trafficKeys(secret)
	if err != nil {
		return 0, false
	}
	for _, rec := range r.sent {
		nonce := nonce(&k.iv, n)
		if _, err := k.aead.Open(nil, nonce[:], rec[headerLen:], rec[:headerLen]); err != nil {
			if n > 0 {
				return 0, false // a handshake record after a ticket
			}
			continue
		}
		n++
	}
	r.sent = nil
	return n, true
}

// atBoundary reports whether the reads ended at the end of a record.
func (r *recordReader) atBoundary() bool { return r.hdrN == 0 && r.left == 0 }

// keyLog is the KeyLogWriter of one connection's handshake: it keeps the
// application traffic secrets (NSS key log lines, "LABEL client_random
// secret"), and passes every line on to the configuration's own writer,
// if it has one.
type keyLog struct {
	client, server secret
	also           io.Writer
}

type secret struct {
	secret [maxSecret]byte
	n      int
}

func (k *keyLog) Write(line []byte) (int, error) {
	if k.also != nil {
		if _, err := k.also.Write(line); err != nil {
			return 0, err
		}
	}
	f := bytes.Fields(line)
	if len(f) != 3 || hex.DecodedLen(len(f[2])) > maxSecret {
		return len(line), nil
	}
	var to *secret
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		to = &k.client
	case "SERVER_TRAFFIC_SECRET_0":
		to = &k.server
	default:
		return len(line), nil
	}
	n, err := hex.Decode(to.secret[:], f[2])
	if err != nil {
		n = 0
	}
	to.n = n
	return len(line), nil
}
