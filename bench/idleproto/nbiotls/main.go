// Command nbiotls is the nbio prototype over TLS: nbio's non-blocking TLS
// (lesismal/llib's copy of crypto/tls, fed with Append) in front of the
// same minimal MQTT. nbio's own extension/tls wrapper, which does the same,
// is marked deprecated in v1.6.8; this uses llib directly, as nbhttp does.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"
	"sync"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/mempool"

	"streamhub/bench/idleproto/mqttmin"
	"streamhub/bench/idleproto/selfsigned"
)

type conn struct {
	mqttmin.SyncWriter // publishers write from other goroutines
	t                  *ltls.Conn
	s                  mqttmin.Session
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	flag.Bool("tls", true, "accepted for run.sh; always TLS")
	flag.Parse()
	stdConf, err := selfsigned.ServerConfig()
	if err != nil {
		log.Fatal(err)
	}
	conf := &ltls.Config{Certificates: []ltls.Certificate{{Certificate: stdConf.Certificates[0].Certificate, PrivateKey: stdConf.Certificates[0].PrivateKey}}}
	b := mqttmin.NewBroker()
	e := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{*addr}})
	e.OnOpen(func(c *nbio.Conn) {
		t := ltls.NewConn(c, conf, false, true, mempool.DefaultMemPool)
		c.SetSession(&conn{SyncWriter: mqttmin.SyncWriter{W: t}, t: t})
	})
	buf := sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}
	e.OnData(func(nc *nbio.Conn, data []byte) {
		c := nc.Session().(*conn)
		_, _ = c.t.Append(data)
		bp := buf.Get().(*[]byte)
		defer buf.Put(bp)
		for {
			n, err := c.t.Read(*bp)
			if err == nil && n > 0 {
				err = c.s.Feed(b, c, (*bp)[:n])
			}
			if err != nil {
				nc.Close()
				return
			}
			if n == 0 {
				return
			}
		}
	})
	e.OnClose(func(nc *nbio.Conn, _ error) {
		if c, ok := nc.Session().(*conn); ok {
			b.Unsubscribe(c, c.s.Topics)
		}
	})
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
	e.Stop()
}
