package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
	"unsafe"

	"streamhub/bench/idleproto/selfsigned"
)

// readBufCaps returns the capacities of tls.Conn's rawInput and hand.
func readBufCaps(tc *tls.Conn) (rawInput, hand int) {
	base := unsafe.Pointer(tc)
	return (*bytes.Buffer)(unsafe.Add(base, rawInputOff)).Cap(), (*bytes.Buffer)(unsafe.Add(base, handOff)).Cap()
}

// handshakeCaps runs one handshake and one application record each way
// between a Go client and a server reading through wrap, and returns the
// server's read buffer capacities after it.
func handshakeCaps(t *testing.T, srvConf *tls.Config, cliConf *tls.Config, wrap func(net.Conn) net.Conn) (int, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		raw, hand int
		err       error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(wrap(c), srvConf)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- result{err: err}
			return
		}
		if _, err := tc.Write(buf); err != nil {
			done <- result{err: err}
			return
		}
		r, h := readBufCaps(tc)
		done <- result{raw: r, hand: h}
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tls.Client(c, cliConf)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := tc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, 5)
	if _, err := io.ReadFull(tc, echo); err != nil || string(echo) != "hello" {
		t.Fatalf("echo %q: %v", echo, err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	return res.raw, res.hand
}

// A Go client's ClientHello, split, still makes a working connection, and
// leaves crypto/tls's record buffer at its first size (576 B) and its
// handshake buffer no larger than unsplit.
func TestHelloSplitterKeepsRecordBufferSmall(t *testing.T) {
	srv, err := selfsigned.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	clients := map[string]*tls.Config{
		"default": {InsecureSkipVerify: true}, // X25519MLKEM768: a 1.2 KB+ ClientHello
		"x25519":  {InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}},
		"tls12":   {InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12},
	}
	for name, cli := range clients {
		raw0, hand0 := handshakeCaps(t, srv, cli, func(c net.Conn) net.Conn { return c })
		for _, limit := range []int{128, 256, 512} {
			raw, hand := handshakeCaps(t, srv, cli, func(c net.Conn) net.Conn { return &helloSplitter{Conn: c, max: limit} })
			t.Logf("%s, cut at %d: rawInput %d (unsplit %d), hand %d (unsplit %d)", name, limit, raw, raw0, hand, hand0)
			if raw > 576 || hand > max(hand0, 256) {
				t.Errorf("%s, cut at %d: rawInput %d, hand %d; want at most 576 and %d", name, limit, raw, hand, max(hand0, 256))
			}
		}
	}
}
