package webrtc

import (
	"context"
	"errors"
	"sync"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"streamhub/internal/codec/envelope"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/quote"
	"streamhub/internal/transport/kit"
	"streamhub/internal/transport/kit/jsonproto"
)

// ControlLabel is the label of the channel that speaks the JSON protocol.
const ControlLabel = "streamhub"

// A channel stops taking messages past maxBuffered bytes queued in SCTP and
// resumes below lowBuffered; meanwhile the hub queue holds them (and, for
// an unreliable channel, loses the oldest).
const (
	maxBuffered = 1 << 20
	lowBuffered = 256 << 10
)

// channel is one data channel and its subscription.
type channel struct {
	ss  *session
	dc  *webrtc.DataChannel
	sub *kit.Subscriber
	// room is signalled when SCTP's buffer falls below lowBuffered.
	room chan struct{}
	// encode returns one delivery's message and whether it is text.
	encode func(hub.Delivery) ([]byte, bool)
}

// unreliable reports whether dc may lose messages (maxRetransmits or
// maxPacketLifeTime set): then a slow peer loses the oldest rather than
// being disconnected.
func unreliable(dc *webrtc.DataChannel) bool {
	return dc.MaxRetransmits() != nil || dc.MaxPacketLifeTime() != nil
}

// openChannel takes a data channel the peer opened.
func (ss *session) openChannel(dc *webrtc.DataChannel) {
	if !ss.track() {
		_ = dc.Close()
		return
	}
	cfg := ss.srv.cfg
	limits := cfg.Queue
	if unreliable(dc) {
		limits.Overflow = hub.DropOldest
	}
	// Counted once per session (newSession), listed per channel.
	ch := &channel{ss: ss, dc: dc, room: make(chan struct{}, 1), sub: kit.Open(kit.Opening{Hub: ss.srv.hub,
		Transport: "webrtc", Queue: limits, Registry: cfg.Registry, Identity: ss.identity, Remote: ss.remote, Kick: ss.kick})}
	ctx, cancel := context.WithCancel(ss.ctx)
	opened := make(chan struct{})
	var openOnce sync.Once
	dc.OnOpen(func() { openOnce.Do(func() { close(opened) }) })
	dc.OnClose(cancel)
	dc.SetBufferedAmountLowThreshold(lowBuffered)
	dc.OnBufferedAmountLow(ch.signalRoom)
	go func() {
		defer ss.wg.Done()
		select {
		case <-opened:
			ch.pump(ctx)
		case <-ctx.Done():
		}
		cancel()
		ch.sub.Close()
		_ = dc.Close()
	}()
	if dc.Label() == ControlLabel {
		ch.encode = func(d hub.Delivery) ([]byte, bool) { return envelope.Marshal(d.Msg, d.Retained), true }
		dc.OnMessage(ch.command)
		return
	}
	ch.encode = func(d hub.Delivery) ([]byte, bool) { return d.Msg.Payload, utf8.Valid(d.Msg.Payload) }
	if err := ch.subscribeTopic(); err != nil {
		ss.srv.remote.Info("refused a data channel", "label", quote.Cut(dc.Label()), "err", err)
		cancel()
		return
	}
	dc.OnMessage(ch.publish)
}

// track counts a channel in the session unless it is closing.
func (ss *session) track() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closing {
		return false
	}
	ss.wg.Add(1)
	return true
}

func (ch *channel) signalRoom() {
	select {
	case ch.room <- struct{}{}:
	default:
	}
}

// subscribeTopic subscribes a topic channel to its label, as a plain
// WebSocket to its path: retained messages first.
func (ch *channel) subscribeTopic() error {
	name := ch.dc.Label()
	if err := topic.ValidateFilter(name); err != nil {
		return err
	}
	_, err := ch.sub.Subscribe(ch.ss.srv.cfg.Policy, kit.SubscribeRequest{Identity: ch.ss.identity,
		Filters: []string{name}, From: hub.StartFrom{Retained: true}})
	return err
}

// errRefused ends a topic channel whose message cannot be published; a
// data channel has no close code to say why, so the log does.
var errRefused = errors.New("publish refused")

// publish publishes one message of a topic channel; a refusal closes the
// channel, as it closes a plain WebSocket.
func (ch *channel) publish(msg webrtc.DataChannelMessage) {
	srv, name := ch.ss.srv, ch.dc.Label()
	why := ""
	switch {
	case topic.IsFilter(name):
		why = "cannot publish to a filter"
	case !srv.cfg.Policy.CanPublish(ch.ss.identity, name):
		why = "not allowed to publish to " + quote.Cut(name)
	case !limit.Allow(ch.ss.limiter):
		why = "publish rate limit exceeded"
	}
	if why == "" {
		m := &message.Message{Topic: name, Payload: msg.Data, QoS: message.DefaultQoS}
		if !msg.IsString {
			m.ContentType = "application/octet-stream"
		}
		_, err := srv.hub.Publish(ch.ss.ctx, m)
		if err == nil {
			srv.meter.Received(1)
			return
		}
		why = err.Error()
	}
	srv.remote.Info("closing a data channel", "label", quote.Cut(name), "err", errRefused, "why", why)
	_ = ch.dc.Close()
}

// command runs one request of the JSON protocol and sends its reply.
func (ch *channel) command(msg webrtc.DataChannelMessage) {
	srv := ch.ss.srv
	rep := envelope.Control{Type: envelope.TypeError, Code: envelope.CodeBadRequest, Message: "the JSON protocol takes text messages"}
	if msg.IsString {
		cmds := jsonproto.Commands{Hub: srv.hub, Policy: srv.cfg.Policy, Meter: srv.meter}
		rep = cmds.Handle(ch.ss.ctx, ch.ss.identity, ch.ss.limiter, ch.sub.Subscription, msg.Data)
	}
	_ = ch.dc.SendText(string(rep.Encode()))
}

// errEndedWhileFull: the channel or its subscription ended while SCTP's
// buffer was full, so the message was not sent.
var errEndedWhileFull = errors.New("data channel ended while its buffer was full")

// pump sends the subscription's messages, one data channel message each,
// until the channel or its subscription ends, with a kit.Writer: the
// kit's loop, its metering and its recover (a panic in the encoding ends
// this channel only). A data channel carries messages, not a byte stream,
// so each write is one delivery: its first byte says text or binary.
func (ch *channel) pump(ctx context.Context) {
	srv := ch.ss.srv
	w := kit.Writer{
		Encode: func(buf []byte, d hub.Delivery) []byte {
			data, text := ch.encode(d)
			kind := byte(0)
			if text {
				kind = 1
			}
			return append(append(buf, kind), data...)
		},
		Write: func(b []byte) error {
			if !ch.waitRoom(ctx) {
				return errEndedWhileFull
			}
			if b[0] == 1 {
				return ch.dc.SendText(string(b[1:]))
			}
			return ch.dc.Send(b[1:])
		},
		MaxWrite: kit.MessagePerWrite,
		Meter:    srv.meter,
		Log:      srv.remote,
		Check:    srv.cfg.EncodeCheck,
	}
	_, err := w.Run(ctx, ch.sub.Subscription, nil)
	srv.log.Debug("data channel ended", "transport", "webrtc", "reason", kit.EndOf(err), "err", err)
}

// waitRoom waits while SCTP holds more than maxBuffered bytes of this
// channel, so a stalled peer's messages wait (or are dropped) in the hub
// queue, bounded, rather than pile up in SCTP's.
func (ch *channel) waitRoom(ctx context.Context) bool {
	for ch.dc.BufferedAmount() > maxBuffered {
		select {
		case <-ch.room:
		case <-ctx.Done():
			return false
		case <-ch.sub.Done():
			return false
		}
	}
	return true
}
