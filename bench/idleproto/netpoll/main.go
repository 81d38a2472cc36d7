// Command netpoll is the idle-connection prototype on cloudwego/netpoll:
// its pollers read into each connection's LinkBuffer and start OnRequest on
// a pooled goroutine only while the connection has input.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/cloudwego/netpoll"

	"streamhub/bench/idleproto/mqttmin"
)

type sessionKey struct{}

type conn struct {
	mqttmin.SyncWriter // netpoll refuses concurrent writers (ErrConcurrentAccess) instead of waiting
	c                  netpoll.Connection
	s                  mqttmin.Session
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	flag.Parse()
	b := mqttmin.NewBroker()
	ln, err := netpoll.CreateListener("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	onRequest := func(ctx context.Context, nc netpoll.Connection) error {
		c := ctx.Value(sessionKey{}).(*conn)
		r := nc.Reader()
		data, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		err = c.s.Feed(b, c, data)
		_ = r.Release()
		if err != nil {
			return nc.Close()
		}
		return nil
	}
	loop, err := netpoll.NewEventLoop(onRequest,
		netpoll.WithOnConnect(func(ctx context.Context, nc netpoll.Connection) context.Context {
			c := &conn{c: nc}
			c.W = nc
			_ = nc.AddCloseCallback(func(netpoll.Connection) error { b.Unsubscribe(c, c.s.Topics); return nil })
			return context.WithValue(ctx, sessionKey{}, c)
		}))
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(loop.Serve(ln))
}
