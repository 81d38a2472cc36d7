// Command nbio is the idle-connection prototype on lesismal/nbio: its
// pollers read into one buffer per poller and call OnData; a connection has
// no goroutine and, while idle, no buffer of its own.
package main

import (
	"flag"
	"log"
	"os"
	"os/signal"

	"github.com/lesismal/nbio"

	"streamhub/bench/idleproto/mqttmin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "listen address")
	flag.Parse()
	b := mqttmin.NewBroker()
	e := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{*addr}})
	e.OnOpen(func(c *nbio.Conn) { c.SetSession(&mqttmin.Session{}) })
	e.OnData(func(c *nbio.Conn, data []byte) {
		s := c.Session().(*mqttmin.Session)
		if err := s.Feed(b, c, data); err != nil {
			c.Close()
		}
	})
	e.OnClose(func(c *nbio.Conn, _ error) {
		if s, ok := c.Session().(*mqttmin.Session); ok {
			b.Unsubscribe(c, s.Topics)
		}
	})
	if err := e.Start(); err != nil {
		log.Fatal(err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, os.Kill)
	<-stop
	e.Stop()
}
