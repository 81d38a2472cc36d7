// Command gnet is the idle-connection prototype on panjf2000/gnet/v2: one
// event loop per core reads into the connection's inbound buffer and calls
// OnTraffic; writes from other loops go through AsyncWrite.
package main

import (
	"flag"
	"log"

	"github.com/panjf2000/gnet/v2"

	"streamhub/bench/idleproto/mqttmin"
)

type server struct {
	gnet.BuiltinEventEngine
	b *mqttmin.Broker
}

type conn struct {
	c gnet.Conn
	s mqttmin.Session
}

// Write queues p on the connection's own loop: safe from any goroutine.
func (c *conn) Write(p []byte) (int, error) { return len(p), c.c.AsyncWrite(p, nil) }

func (s *server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&conn{c: c})
	return nil, gnet.None
}

func (s *server) OnTraffic(c gnet.Conn) gnet.Action {
	cc := c.Context().(*conn)
	data, _ := c.Next(-1)
	if err := cc.s.Feed(s.b, cc, data); err != nil {
		return gnet.Close
	}
	return gnet.None
}

func (s *server) OnClose(c gnet.Conn, _ error) gnet.Action {
	if cc, ok := c.Context().(*conn); ok {
		s.b.Unsubscribe(cc, cc.s.Topics)
	}
	return gnet.None
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	flag.Parse()
	log.Fatal(gnet.Run(&server{b: mqttmin.NewBroker()}, "tcp://"+*addr, gnet.WithMulticore(true)))
}
