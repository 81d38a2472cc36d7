package tls13rec

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"streamhub/internal/testkit/poll"
	"streamhub/internal/testkit/testcert"
	"streamhub/internal/tlsconf"
)

// TestTrafficKeyRFC8448: HKDF-Expand-Label's key and IV for the server's
// handshake traffic secret of RFC 8448's simple 1-RTT handshake (section 3).
func TestTrafficKeyRFC8448(t *testing.T) {
	secret := fromHex(t, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
	si, _ := suiteByID(tls.TLS_AES_128_GCM_SHA256)
	s := si.get()
	key, err := s.expandLabel(secret, "key", s.keyLen)
	if err != nil {
		t.Fatal(err)
	}
	iv, err := s.expandLabel(secret, "iv", ivLen)
	if err != nil {
		t.Fatal(err)
	}
	if want := fromHex(t, "3fce516009c21727d0f2e4e86ee403bc"); !bytes.Equal(key, want) {
		t.Errorf("key %x, want %x", key, want)
	}
	if want := fromHex(t, "5d313eb2671276ee13000b30"); !bytes.Equal(iv, want) {
		t.Errorf("iv %x, want %x", iv, want)
	}
}

func fromHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// serve starts a listener of switched connections that serve handle, and
// returns its address and a pool trusting its certificate.
func serve(t *testing.T, handle func(t *testing.T, c *Conn)) (string, *x509.CertPool, string) {
	t.Helper()
	certFile, keyFile, pool := testcert.SelfSigned(t, "127.0.0.1")
	cfg, err := tlsconf.Config(certFile, keyFile, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, cfg)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(time.Minute))
				handle(t, nc.(*Conn))
			}()
		}
	}()
	return ln.Addr().String(), pool, certFile
}

// echo handshakes, reports whether it switched, and echoes until EOF.
func echo(switched chan<- bool) func(t *testing.T, c *Conn) {
	return func(t *testing.T, c *Conn) {
		if err := c.Handshake(); err != nil {
			switched <- false
			return
		}
		switched <- c.Switched()
		_, _ = io.Copy(c, c)
		_ = c.CloseWrite()
	}
}

func dialGo(t *testing.T, addr string, pool *x509.CertPool, maxVersion uint16) *tls.Conn {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: maxVersion})
	if err != nil {
		t.Fatal(err)
	}
	_ = tc.SetDeadline(time.Now().Add(time.Minute))
	t.Cleanup(func() { tc.Close() })
	return tc
}

// roundTrip writes msg in writes of chunk bytes and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg []byte, chunk int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		var err error
		for b := msg; len(b) > 0 && err == nil; b = b[min(chunk, len(b)):] {
			_, err = c.Write(b[:min(chunk, len(b))])
		}
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoClient: Go's client (TLS 1.3, AES-128-GCM) against switched
// connections: many small records, a 1 MiB message in full records both
// ways, and close_notify each way.
func TestGoClient(t *testing.T) {
	t.Parallel()
	switched := make(chan bool, 1)
	addr, pool, _ := serve(t, echo(switched))
	c := dialGo(t, addr, pool, 0)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if !<-switched {
		t.Fatal("a TLS 1.3 connection did not switch")
	}
	roundTrip(t, c, random(t, 3000), 3) // a thousand records of 3 bytes
	roundTrip(t, c, random(t, 1<<20+17), 1<<20+17)
	// close_notify: the server's echo sees EOF, sends its own.
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after close_notify: %d, %v; want EOF", n, err)
	}
}

// TestTLS12ClientStaysOnCryptoTLS: a TLS 1.2 client is served by
// crypto/tls as before.
func TestTLS12ClientStaysOnCryptoTLS(t *testing.T) {
	t.Parallel()
	switched := make(chan bool, 1)
	addr, pool, _ := serve(t, echo(switched))
	c := dialGo(t, addr, pool, tls.VersionTLS12)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if <-switched {
		t.Fatal("a TLS 1.2 connection switched")
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS12 {
		t.Fatalf("version %x", v)
	}
	roundTrip(t, c, random(t, 100_000), 7000)
}

// TestServerKeyUpdate: Go's client follows the server's KeyUpdate (sent
// every keyUpdateAfter records).
func TestServerKeyUpdate(t *testing.T) {
	t.Parallel()
	ready := make(chan *Conn, 1)
	addr, pool, _ := serve(t, func(t *testing.T, c *Conn) {
		if c.Handshake() != nil {
			return
		}
		c.out.mu.Lock()
		err := c.keyUpdateLocked()
		c.out.mu.Unlock()
		if err != nil {
			return
		}
		ready <- c
		_, _ = io.Copy(c, c)
	})
	c := dialGo(t, addr, pool, 0)
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	<-ready
	roundTrip(t, c, random(t, 100), 10)
}

// TestKeyUpdateAfterLimit: the write key is updated once it protected
// keyUpdateAfter records, and the reader follows.
func TestKeyUpdateAfterLimit(t *testing.T) {
	t.Parallel()
	c, peer := pipePair(t, tls.TLS_AES_256_GCM_SHA384)
	c.out.seq, peer.in.seq = keyUpdateAfter-2, keyUpdateAfter-2
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for range 5 {
			c.Write([]byte("x"))
		}
	}()
	got := make([]byte, 5)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "xxxxx" {
		t.Fatalf("%q, %v", got, err)
	}
	<-wrote
	if c.out.seq != 3 {
		t.Fatalf("write sequence %d after the update, want 3", c.out.seq)
	}
}

// TestParkDropsCipherAndBuffers: a parked connection holds no AEAD and no
// buffer, and works on after it.
func TestParkDropsCipherAndBuffers(t *testing.T) {
	t.Parallel()
	parked := make(chan *Conn, 1)
	resume := make(chan struct{})
	addr, pool, _ := serve(t, func(t *testing.T, c *Conn) {
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil {
			return
		}
		c.Write(b)
		c.Park()
		parked <- c
		<-resume
		_, _ = io.Copy(c, c)
	})
	c := dialGo(t, addr, pool, 0)
	roundTrip(t, c, []byte("hello"), 5)
	sc := <-parked
	if sc.in.keys != nil || sc.out.keys != nil || sc.in.buf != nil {
		t.Fatalf("parked: in aead %v, out aead %v, buffer %v", sc.in.keys != nil, sc.out.keys != nil, sc.in.buf != nil)
	}
	// A write while parked gives its cipher back after it.
	if _, err := sc.Write([]byte("while parked")); err != nil {
		t.Fatal(err)
	}
	if sc.out.keys != nil {
		t.Fatal("a write while parked kept its AEAD")
	}
	got := make([]byte, len("while parked"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "while parked" {
		t.Fatalf("%q, %v", got, err)
	}
	close(resume)
	roundTrip(t, c, random(t, 50_000), 1000)
}

// TestParkedWriteStreamKeepsAEAD: writes that keep coming to a parked
// connection (deliveries to an idle subscriber) keep its write AEAD
// between them instead of building it for each, and give it back once
// they stop; a read (the connection's reader runs) leaves it to the next
// Park.
func TestParkedWriteStreamKeepsAEAD(t *testing.T) {
	t.Parallel()
	parked := make(chan *Conn, 1)
	done := make(chan struct{})
	defer close(done)
	addr, pool, _ := serve(t, func(t *testing.T, c *Conn) {
		if c.Handshake() != nil {
			return
		}
		c.Park()
		parked <- c
		<-done // no read: it would end the park
	})
	c := dialGo(t, addr, pool, 0)
	sc := <-parked
	writeAEAD := func() bool {
		sc.out.mu.Lock()
		defer sc.out.mu.Unlock()
		return sc.out.keys != nil
	}
	const writes = 20
	for i := range writes {
		if _, err := sc.Write([]byte("delivery")); err != nil {
			t.Fatal(err)
		}
		if i > 0 && !writeAEAD() {
			t.Fatalf("write %d of a stream to a parked connection gave its AEAD back", i)
		}
	}
	got := make([]byte, writes*len("delivery"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != strings.Repeat("delivery", writes) {
		t.Fatalf("%q, %v", got, err)
	}
	poll.Eventually(t, 10*time.Second, "the write AEAD given back once writes stopped", func() bool { return !writeAEAD() })
	// Still parked, the next stream builds it again and works.
	for range 2 {
		if _, err := sc.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
	}
	got = make([]byte, 2*len("again"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "againagain" {
		t.Fatalf("%q, %v", got, err)
	}
}

// TestPastDeadlineReadsOnlyBuffered: with a read deadline in the past, a
// Read returns records already read from the socket and then a timeout,
// without losing a record cut in two (what park relies on).
func TestPastDeadlineReadsOnlyBuffered(t *testing.T) {
	t.Parallel()
	c, peer := pipePair(t, tls.TLS_AES_128_GCM_SHA256)
	first := sealFor(t, peer, typeApplicationData, []byte("one"), 0)
	stream := first
	for _, m := range []string{"two", "three"} {
		stream = append(stream, sealFor(t, peer, typeApplicationData, []byte(m), 0)...)
	}
	cut := len(stream) - 4
	go peer.nc.Write(stream[:cut])
	got := make([]byte, 3)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "one" {
		t.Fatalf("%q %v", got, err)
	}
	waitBuffered(t, c, cut-len(first))
	c.SetReadDeadline(time.Unix(1, 0))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if string(buf[:n]) != "two" || err != nil {
		t.Fatalf("%q, %v", buf[:n], err)
	}
	if n, err = c.Read(buf); n != 0 || !isTimeout(err) {
		t.Fatalf("%d, %v: want a timeout", n, err)
	}
	c.SetReadDeadline(time.Time{})
	go peer.nc.Write(stream[cut:])
	if n, err = c.Read(buf); string(buf[:n]) != "three" || err != nil {
		t.Fatalf("%q, %v", buf[:n], err)
	}
}

// waitBuffered reads the socket into c's buffer until it holds n bytes of
// records.
func waitBuffered(t *testing.T, c *Conn, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Buffered() < n {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		c.in.mu.Lock()
		_ = c.in.fill(c.nc)
		c.in.mu.Unlock()
		c.SetReadDeadline(time.Time{})
		if time.Now().After(deadline) {
			t.Fatal("nothing buffered")
		}
	}
}

// pipePair returns a switched server connection over TCP and its peer:
// a Conn with the directions swapped, for records crafted by the tests.
func pipePair(t testing.TB, id uint16) (server, peer *Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	server, peer = switched(b, id, false), switched(a, id, true)
	t.Cleanup(func() { a.Close(); b.Close() })
	return server, peer
}

// switched is a Conn already past its handshake, with fixed secrets.
func switched(nc net.Conn, id uint16, client bool) *Conn {
	si, _ := suiteByID(id)
	c := &Conn{nc: nc, suite: si}
	cs, ss := bytes.Repeat([]byte{1}, maxSecret), bytes.Repeat([]byte{2}, maxSecret)
	if client {
		cs, ss = ss, cs
	}
	copy(c.in.secret[:], cs)
	copy(c.out.secret[:], ss)
	return c
}

// sealFor seals inner (its content type appended, then pad zeros) as the
// peer's next record.
func sealFor(t testing.TB, peer *Conn, typ byte, data []byte, pad int) []byte {
	inner := append(append(bytes.Clone(data), typ), make([]byte, pad)...)
	return sealRaw(t, peer, typeApplicationData, inner)
}

// sealRaw seals inner, as it is, in a record of type outer.
func sealRaw(t testing.TB, peer *Conn, outer byte, inner []byte) []byte {
	out := &peer.out
	if err := out.derive(peer.suite.get()); err != nil {
		t.Fatal(err)
	}
	hdr := []byte{outer, 3, 3, 0, 0}
	n := len(inner) + out.keys.aead.Overhead()
	hdr[3], hdr[4] = byte(n>>8), byte(n)
	nonce := nonce(&out.keys.iv, out.seq)
	out.seq++
	return out.keys.aead.Seal(hdr, nonce[:], inner, hdr)
}

// TestBadRecords: each lie or fault in the peer's records ends the
// connection with an error, and the alert the RFC asks for when one is due.
func TestBadRecords(t *testing.T) {
	t.Parallel()
	type stream func(peer *Conn) []byte
	cases := []struct {
		name  string
		in    stream
		want  error
		alert alert
	}{
		{"length over 2^14+256", func(*Conn) []byte { return []byte{23, 3, 3, 0x41, 0x01} }, alertRecordOverflow, alertRecordOverflow},
		{"shorter than its tag", func(*Conn) []byte { return []byte{23, 3, 3, 0, 3, 1, 2, 3} }, alertBadRecordMAC, alertBadRecordMAC},
		{"forged", func(p *Conn) []byte {
			r := sealFor(t, p, typeApplicationData, []byte("x"), 0)
			r[len(r)-1] ^= 1
			return r
		}, alertBadRecordMAC, alertBadRecordMAC},
		{"replayed", func(p *Conn) []byte {
			r := sealFor(t, p, typeApplicationData, []byte("x"), 0)
			return append(r, r...)
		}, alertBadRecordMAC, alertBadRecordMAC},
		{"only padding", func(p *Conn) []byte { return sealRaw(t, p, typeApplicationData, make([]byte, 30)) }, alertUnexpectedMessage, alertUnexpectedMessage},
		{"too much plaintext", func(p *Conn) []byte { return sealFor(t, p, typeApplicationData, nil, maxPlaintext+1) }, alertRecordOverflow, alertRecordOverflow},
		{"change_cipher_spec", func(*Conn) []byte { return []byte{20, 3, 3, 0, 1, 1} }, alertUnexpectedMessage, alertUnexpectedMessage},
		{"plaintext alert", func(*Conn) []byte { return []byte{21, 3, 3, 0, 2, 2, 40} }, alertUnexpectedMessage, alertUnexpectedMessage},
		{"unknown inner type", func(p *Conn) []byte { return sealFor(t, p, 99, []byte("x"), 3) }, alertUnexpectedMessage, alertUnexpectedMessage},
		{"NewSessionTicket", func(p *Conn) []byte { return sealFor(t, p, typeHandshake, []byte{4, 0, 0, 1, 0}, 0) }, alertUnexpectedMessage, alertUnexpectedMessage},
		{"KeyUpdate too long", func(p *Conn) []byte { return sealFor(t, p, typeHandshake, []byte{24, 0, 0, 2, 0, 0}, 0) }, alertDecodeError, alertDecodeError},
		{"KeyUpdate bad request", func(p *Conn) []byte { return sealFor(t, p, typeHandshake, []byte{24, 0, 0, 1, 7}, 0) }, alertIllegalParameter, alertIllegalParameter},
		{"KeyUpdate not last", func(p *Conn) []byte {
			return sealFor(t, p, typeHandshake, []byte{24, 0, 0, 1, 0, 24, 0, 0, 1, 0}, 0)
		}, alertUnexpectedMessage, alertUnexpectedMessage},
		{"handshake interleaved", func(p *Conn) []byte {
			r := sealFor(t, p, typeHandshake, []byte{24, 0}, 0)
			return append(r, sealFor(t, p, typeApplicationData, []byte("x"), 0)...)
		}, alertUnexpectedMessage, alertUnexpectedMessage},
		{"alert of three bytes", func(p *Conn) []byte { return sealFor(t, p, typeAlert, []byte{2, 40, 0}, 0) }, alertDecodeError, alertDecodeError},
		{"empty records", func(p *Conn) []byte {
			var s []byte
			for range maxUseless + 1 {
				s = append(s, sealFor(t, p, typeApplicationData, nil, 0)...)
			}
			return s
		}, alertUnexpectedMessage, alertUnexpectedMessage},
		{"fatal alert", func(p *Conn) []byte { return sealFor(t, p, typeAlert, []byte{2, 40}, 0) }, alert(40), 0},
		{"close_notify", func(p *Conn) []byte { return sealFor(t, p, typeAlert, []byte{1, 0}, 5) }, io.EOF, 0},
		{"cut record, then EOF", func(p *Conn) []byte { return sealFor(t, p, typeApplicationData, []byte("abc"), 0)[:9] }, io.ErrUnexpectedEOF, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pipePair(t, tls.TLS_AES_128_GCM_SHA256)
			go func() {
				peer.nc.Write(tc.in(peer))
				peer.nc.(*net.TCPConn).CloseWrite()
			}()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err := io.ReadAll(c)
			if tc.want == io.EOF && err == nil {
				err = io.EOF // ReadAll's end
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			// Again: the error stays.
			if _, err2 := c.Read(make([]byte, 1)); !errors.Is(err2, tc.want) && !(tc.want == io.EOF && err2 == io.EOF) {
				t.Fatalf("second read: %v", err2)
			}
			c.Close()
			peer.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, perr := io.ReadAll(peer)
			switch {
			case tc.alert == 0 && perr != nil:
				t.Fatalf("peer got %v, want no alert", perr)
			case tc.alert != 0 && !errors.Is(perr, tc.alert):
				t.Fatalf("peer got %v, want alert %v", perr, tc.alert)
			}
		})
	}
}

// TestKeyUpdateFromPeer: a peer's KeyUpdate, split over two records and
// padded, moves the read key; with update_requested the server answers
// with its own before its next data.
func TestKeyUpdateFromPeer(t *testing.T) {
	t.Parallel()
	for _, id := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256} {
		c, peer := pipePair(t, id)
		var s []byte
		s = append(s, sealFor(t, peer, typeApplicationData, []byte("before"), 0)...)
		s = append(s, sealFor(t, peer, typeHandshake, []byte{24, 0, 0}, 2)...)
		s = append(s, sealFor(t, peer, typeHandshake, []byte{1, 1}, 0)...)
		if err := peer.out.update(peer.suite.get()); err != nil {
			t.Fatal(err)
		}
		s = append(s, sealFor(t, peer, typeApplicationData, []byte("after"), 100)...)
		go peer.nc.Write(s)
		got := make([]byte, len("beforeafter"))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "beforeafter" {
			t.Fatalf("%x: %q, %v", id, got, err)
		}
		go c.Write([]byte("answer"))
		// The peer's reader updates its key on the server's KeyUpdate.
		got = make([]byte, len("answer"))
		if _, err := io.ReadFull(peer, got); err != nil || string(got) != "answer" {
			t.Fatalf("%x: peer read %q, %v", id, got, err)
		}
		if c.out.seq != 1 || peer.in.seq != 1 {
			t.Fatalf("%x: sequence numbers %d/%d after the update", id, c.out.seq, peer.in.seq)
		}
	}
}

// TestSequenceNumberExhausted: a read key's last sequence number is never
// used; the connection ends instead.
func TestSequenceNumberExhausted(t *testing.T) {
	t.Parallel()
	c, peer := pipePair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	c.in.seq, peer.out.seq = math.MaxUint64, math.MaxUint64
	go peer.nc.Write(sealFor(t, peer, typeApplicationData, []byte("x"), 0))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Fatalf("got %v", err)
	}
	c.out.seq = math.MaxUint64
	if _, err := c.Write([]byte("x")); err == nil {
		t.Fatal("a write with the last sequence number went out")
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }

// BenchmarkRebuildKeys is what a parked connection pays on waking, per
// direction it uses: the key and IV derived from its secret and the AEAD
// built.
func BenchmarkRebuildKeys(b *testing.B) {
	for _, s := range suites {
		b.Run(tls.CipherSuiteName(s.id), func(b *testing.B) {
			var d direction
			for b.Loop() {
				d.keys = nil
				if err := d.derive(&s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
