// Package jsonproto runs the commands of streamhub's JSON protocol
// (docs/PROTOCOLS.md, codec in package wsproto) whatever carries them: a
// WebSocket (/v1/ws) or a WebRTC data channel labelled "streamhub". The
// carrier reads one request, hands it to Commands.Handle and sends back the
// reply; the subscription's deliveries it writes itself.
package jsonproto

import (
	"context"
	"errors"
	"strconv"

	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/codec/envelope"
	"streamhub/internal/codec/wsproto"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit"
)

// Commands answers the requests of one connection's JSON protocol.
type Commands struct {
	Hub    kit.Publisher
	Policy *auth.Policy // nil: open
	Meter  kit.Meter
}

// Handle decodes and runs one request of identity id, publishing through
// limiter and subscribing sub, and returns the reply to send.
func (c Commands) Handle(ctx context.Context, id *auth.Identity, limiter *rate.Limiter, sub *hub.Subscription, data []byte) envelope.Control {
	req, err := wsproto.Decode(data)
	if err != nil {
		id := ""
		if req != nil {
			id = req.ID
		}
		return envelope.Control{Type: envelope.TypeError, ID: id, Code: envelope.CodeBadRequest, Message: err.Error()}
	}
	switch req.Op {
	case wsproto.OpPublish:
		if !c.Policy.CanPublish(id, req.Topic) {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeForbidden, Message: "not allowed to publish to " + req.Topic}
		}
		if !limit.Allow(limiter) {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeRateLimited, Message: "publish rate limit exceeded"}
		}
		m, err := req.Message()
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeBadRequest, Message: err.Error()}
		}
		cursor, err := c.Hub.Publish(hub.PublishedBy(ctx, m, id.User), m)
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: publishErrorCode(err), Message: err.Error()}
		}
		c.Meter.Received(1)
		return envelope.Control{Type: envelope.TypeAck, ID: req.ID, Cursor: cursor.String()}
	case wsproto.OpSubscribe:
		from := hub.StartFrom{Retained: req.Retained == nil || *req.Retained}
		switch {
		case req.Cursor != "":
			c, _ := message.ParseCursor(req.Cursor) // validated by Decode
			from = hub.StartFrom{After: &c}
		case req.From != "" || req.Last > 0:
			last := ""
			if req.Last > 0 {
				last = strconv.Itoa(req.Last)
			}
			var err error
			if from, err = hub.ParseStart(req.From, last); err != nil {
				return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: envelope.CodeBadRequest, Message: err.Error()}
			}
		}
		start, err := kit.Subscribe(c.Policy, sub, kit.SubscribeRequest{Identity: id, Filters: req.Topics, From: from})
		if err != nil {
			return envelope.Control{Type: envelope.TypeError, ID: req.ID, Code: subscribeErrorCode(err), Message: err.Error()}
		}
		return envelope.Control{Type: envelope.TypeSubscribed, ID: req.ID, Head: start.Head.String(), Gap: start.Gap}
	case wsproto.OpUnsubscribe:
		sub.Unsubscribe(req.Topics)
		return envelope.Control{Type: envelope.TypeUnsubscribed, ID: req.ID}
	default:
		return envelope.Control{Type: envelope.TypePong, ID: req.ID}
	}
}

func publishErrorCode(err error) string {
	switch {
	case errors.Is(err, hub.ErrUnavailable):
		return envelope.CodeUnavailable
	case topic.IsInvalid(err): // a topic a cluster cannot carry (hub.ValidateName)
		return envelope.CodeBadRequest
	}
	return envelope.CodePublishFailed
}

func subscribeErrorCode(err error) string {
	switch {
	case topic.IsInvalid(err):
		return envelope.CodeBadRequest
	case kit.IsForbidden(err):
		return envelope.CodeForbidden
	case errors.Is(err, hub.ErrTooManySubscriptions):
		return envelope.CodeTooManySubscriptions
	}
	return envelope.CodeSubscribeFailed
}
