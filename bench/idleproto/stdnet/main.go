// Command stdnet is the control for the idle-connection prototypes: the
// same minimal MQTT (mqttmin) on the standard library's net package, one
// goroutine per connection reading into a 512-byte buffer of its own, as
// the server's MQTT reader does while a connection is quiet. Beside the
// event-driven prototypes it shows what the goroutine model costs alone,
// without the server's sessions, hub subscriptions and metrics.
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"net"

	"streamhub/bench/idleproto/mqttmin"
	"streamhub/bench/idleproto/selfsigned"
)

type conn struct {
	mqttmin.SyncWriter // publishers write from other goroutines
	nc                 net.Conn
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	useTLS := flag.Bool("tls", false, "serve MQTT over TLS (self-signed)")
	flag.Parse()
	b := mqttmin.NewBroker()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *useTLS {
		tc, err := selfsigned.ServerConfig()
		if err != nil {
			log.Fatal(err)
		}
		ln = tls.NewListener(ln, tc)
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			c := &conn{nc: nc}
			c.W = nc
			var s mqttmin.Session
			buf := make([]byte, 512)
			for {
				n, err := nc.Read(buf)
				if err != nil || s.Feed(b, c, buf[:n]) != nil {
					break
				}
			}
			b.Unsubscribe(c, s.Topics)
			nc.Close()
		}()
	}
}
