package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"streamhub/bench/internal/webrtcpeer"
)

// dialDataChannel opens a peer connection through POST /v1/webrtc with
// one data channel labelled with the topic and counts its messages.
func dialDataChannel(ctx context.Context, o options, s *subscriber) error {
	pc, err := webrtcpeer.New()
	if err != nil {
		return err
	}
	s.close = func() { pc.Close() }
	init := &webrtc.DataChannelInit{}
	if o.unordered {
		ordered, retransmits := false, uint16(0)
		init.Ordered, init.MaxRetransmits = &ordered, &retransmits
	}
	dc, err := pc.CreateDataChannel(o.topic, init)
	if err != nil {
		return err
	}
	opened := make(chan struct{})
	dc.OnOpen(func() { close(opened) })
	dc.OnMessage(func(webrtc.DataChannelMessage) { s.got.Add(1) })
	if err := webrtcpeer.Negotiate(ctx, pc, o.base+"/v1/webrtc"); err != nil {
		return err
	}
	select {
	case <-opened:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("data channel did not open in 30 s")
	}
}

// dialWebSocket subscribes with the plain WebSocket on the topic and
// counts its messages.
func dialWebSocket(ctx context.Context, o options, s *subscriber) error {
	url := "ws" + strings.TrimPrefix(o.base, "http") + "/v1/ws/" + o.topic
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return fmt.Errorf("websocket %s: %w", url, err)
	}
	c.SetReadLimit(-1)
	s.close = func() { c.Close(websocket.StatusNormalClosure, "") }
	go func() {
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
			s.got.Add(1)
		}
	}()
	return nil
}
