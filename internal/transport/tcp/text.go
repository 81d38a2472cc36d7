package tcp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/codec/tcptext"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/tlsconf"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/deadline"
)

// endLine is the -ERR line that tells a text client why its subscription
// ended.
func endLine(end kit.EndReason) string {
	switch end {
	case kit.EndShutdown:
		return "shutdown server shutting down"
	case kit.EndSlowConsumer:
		return "slow_consumer queue limit exceeded"
	case kit.EndKicked:
		return "kicked disconnected by an administrator"
	}
	return "closed"
}

// serveText speaks the text protocol on c: commands are read here, and a
// writer goroutine sends replies and MSG frames, so one slow direction
// never blocks the other's bookkeeping.
func (s *Server) serveText(ctx context.Context, c net.Conn) {
	limiter := s.textRate.Limiter()
	meter := s.meter("tcp-text")
	// Counted by the listener's admission at accept: no Meter here.
	sub := kit.Open(kit.Opening{Hub: s.hub, Transport: "tcp-text", Queue: s.cfg.TextQueue, Registry: s.cfg.Registry, Remote: c.RemoteAddr().String()})
	defer sub.Close()

	var mu sync.Mutex // serialises writes of replies and message batches, and guards writeDL
	var writeDL deadline.Lazy
	write := func(b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if at, set := writeDL.Next(time.Now(), s.cfg.WriteTimeout); set {
			c.SetWriteDeadline(at)
		}
		_, err := c.Write(b)
		return err
	}
	var cursors atomic.Bool // CURSORS was asked: MSG frames carry their cursor
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer cancel()
		defer c.Close()
		w := kit.Writer{
			Log: s.remote,
			Encode: func(buf []byte, d hub.Delivery) []byte {
				var cursor string
				if cursors.Load() {
					cursor = d.Msg.Cursor().String()
				}
				return tcptext.AppendMsg(buf, d.Msg.Topic, d.Msg.Payload, cursor)
			},
			Write:    write,
			Meter:    meter,
			MaxWrite: kit.BulkWrite,
			Check:    s.cfg.EncodeCheck,
		}
		// Only the subscription's end is told; a failed write or a closed
		// connection has nobody left to tell.
		if _, err := w.Run(ctx, sub.Subscription, nil); ctx.Err() == nil && err == sub.Err() {
			_ = write([]byte("-ERR " + endLine(kit.EndOf(err)) + "\n"))
		}
	}()

	p := s.cfg.Policy
	id, _ := p.Anonymous("")
	if tc, ok := c.(*tls.Conn); ok && tc.Handshake() == nil {
		st := tc.ConnectionState()
		if user := tlsconf.PeerUser(&st); user != "" {
			id = p.Certificate(user, "")
		}
	}
	r := tcptext.NewReader(c, s.cfg.MaxPayload)
	for {
		cmd, err := r.Next()
		var perr *tcptext.Error
		if errors.As(err, &perr) {
			if write(tcptext.AppendErr(nil, perr.Code, perr.Text)) != nil || perr.Fatal {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		var reply []byte
		if id == nil && cmd.Verb != tcptext.VerbAuth && cmd.Verb != tcptext.VerbPing {
			if write(tcptext.AppendErr(nil, "unauthorized", "authenticate first: AUTH <user> <password> or AUTH <token>")) != nil {
				return
			}
			continue
		}
		switch cmd.Verb {
		case tcptext.VerbPing:
			reply = []byte("PONG\n")
		case tcptext.VerbCursors:
			cursors.Store(true)
			reply = tcptext.AppendOK(nil, "")
		case tcptext.VerbAuth:
			var who *auth.Identity
			var err error
			if len(cmd.Args) == 1 {
				who, err = p.Login(ctx, auth.Credentials{Protocol: "tcp", Remote: c.RemoteAddr().String(), Token: cmd.Args[0]})
			} else {
				who, err = p.Login(ctx, auth.Credentials{Protocol: "tcp", Remote: c.RemoteAddr().String(),
					User: cmd.Args[0], Password: cmd.Args[1]})
			}
			if err != nil {
				reply = tcptext.AppendErr(nil, "unauthorized", err.Error())
			} else {
				id, reply = who, tcptext.AppendOK(nil, "")
			}
		case tcptext.VerbPub:
			if !p.CanPublish(id, cmd.Topic) {
				reply = tcptext.AppendErr(nil, "forbidden", "not allowed to publish to "+cmd.Topic)
				break
			}
			if !limit.Allow(limiter) {
				reply = tcptext.AppendErr(nil, "rate_limited", "publish rate limit exceeded; message dropped")
				break
			}
			m := &message.Message{Topic: cmd.Topic, Payload: append([]byte(nil), cmd.Payload...), QoS: message.DefaultQoS}
			cursor, err := s.hub.Publish(ctx, m)
			if err != nil {
				reply = tcptext.AppendErr(nil, errorCode(err), err.Error())
			} else {
				meter.Received(1)
				reply = tcptext.AppendOK(nil, cursor.String())
			}
		case tcptext.VerbSub:
			from := hub.StartFrom{Retained: true}
			if cmd.Cursor != "" {
				var err error
				if from, err = hub.ParseStart(cmd.Cursor, ""); err != nil {
					reply = tcptext.AppendErr(nil, "invalid_cursor", err.Error())
					break
				}
			}
			start, err := sub.Subscribe(p, kit.SubscribeRequest{Identity: id, Filters: cmd.Filters, From: from})
			switch {
			case err != nil:
				reply = tcptext.AppendErr(nil, errorCode(err), err.Error())
			case start.Gap:
				reply = tcptext.AppendOK(nil, "gap "+start.Head.String())
			default:
				reply = tcptext.AppendOK(nil, start.Head.String())
			}
		case tcptext.VerbUnsub:
			sub.Unsubscribe(cmd.Filters)
			reply = tcptext.AppendOK(nil, "")
		}
		if write(reply) != nil {
			return
		}
	}
}

func errorCode(err error) string {
	switch {
	case kit.IsForbidden(err):
		return "forbidden"
	case errors.Is(err, hub.ErrTooLarge):
		return "payload_too_large"
	case errors.Is(err, hub.ErrShutdown):
		return "shutdown"
	case errors.Is(err, hub.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, hub.ErrTooManySubscriptions):
		return "too_many_subscriptions"
	case topic.IsInvalid(err):
		return "invalid_topic"
	}
	return "error"
}
