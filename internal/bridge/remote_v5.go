package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	pahosession "github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"streamhub/internal/core/message"
)

// v5 is a connection made with paho.golang, the Eclipse client of MQTT 5.
// Its Publish either blocks until acknowledged or returns with no way to
// learn the outcome; the bridge wants many publishes in flight, in order,
// each acknowledged, so it sends them asynchronously from one goroutine
// and learns each outcome from the session state (ackTap).
type v5 struct {
	c          *paho.Client
	tap        *ackTap
	gone       chan struct{}
	receiveMax int
}

// receiveMaximum bounds the broker's unacknowledged publishes to the bridge.
const receiveMaximum = 1024

func connectV5(ctx context.Context, s session) (*v5, error) {
	conn, err := dial(ctx, s.url, s.tls)
	if err != nil {
		return nil, err
	}
	s.dialed()
	gone := make(chan struct{})
	tap := &ackTap{SessionManager: state.NewInMemory(), gone: gone}
	r := &v5{tap: tap, gone: gone}
	r.c = paho.NewClient(paho.ClientConfig{
		ClientID: s.clientID,
		Conn:     packets.NewThreadSafeConn(conn),
		Session:  tap,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.deliver(fromV5(pr.Packet))
			return true, nil
		}},
		PacketTimeout: writeTimeout,
	})
	cp := &paho.Connect{ClientID: s.clientID, KeepAlive: s.keepAlive, CleanStart: s.cleanStart,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &s.expiry, ReceiveMaximum: new(uint16(receiveMaximum))}}
	if s.username != "" {
		cp.Username, cp.UsernameFlag = s.username, true
	}
	if s.password != "" {
		cp.Password, cp.PasswordFlag = []byte(s.password), true
	}
	ca, err := r.c.Connect(ctx, cp)
	if err != nil {
		tap.Close()
		if ca != nil && ca.ReasonCode >= 0x80 {
			return nil, fmt.Errorf("%w: %v", errRefused, err)
		}
		return nil, err
	}
	if ca.Properties != nil && ca.Properties.ReceiveMaximum != nil {
		r.receiveMax = int(*ca.Properties.ReceiveMaximum)
	}
	go func() {
		<-r.c.Done()
		close(r.gone)
		tap.Close() // ends what waits on the acks still missing
	}()
	if len(s.subs) > 0 {
		sp := &paho.Subscribe{}
		for _, sub := range s.subs {
			// No local: what the bridge publishes must not come back to it.
			sp.Subscriptions = append(sp.Subscriptions, paho.SubscribeOptions{Topic: sub.filter, QoS: sub.qos,
				NoLocal: true, RetainAsPublished: true})
		}
		sa, err := r.c.Subscribe(ctx, sp)
		if err != nil {
			r.close()
			return nil, fmt.Errorf("subscribe: %w", err)
		}
		for i, code := range sa.Reasons {
			if code >= 0x80 && i < len(s.subs) {
				r.close()
				return nil, fmt.Errorf("%w: subscription to %q (reason %d)", errRefused, s.subs[i].filter, code)
			}
		}
	}
	return r, nil
}

// fromV5 converts a received PUBLISH with its properties.
func fromV5(p *paho.Publish) received {
	rc := received{topic: p.Topic, payload: p.Payload, qos: p.QoS, retain: p.Retain, packetID: p.PacketID, dup: p.Duplicate()}
	if pp := p.Properties; pp != nil {
		rc.contentType, rc.responseTopic, rc.correlationData = pp.ContentType, pp.ResponseTopic, pp.CorrelationData
		rc.utf8 = pp.PayloadFormat != nil && *pp.PayloadFormat == 1
		if pp.MessageExpiry != nil {
			rc.expiry = *pp.MessageExpiry
		}
		for _, u := range pp.User {
			rc.headers = append(rc.headers, message.Header{Key: u.Key, Value: u.Value})
		}
	}
	return rc
}

// toV5 is m as a PUBLISH under name, properties included.
func toV5(name string, m *message.Message, qos byte) *paho.Publish {
	p := &paho.Publish{Topic: name, QoS: qos, Retain: m.Retain, Payload: m.Payload}
	if m.ContentType == "" && m.ResponseTopic == "" && m.CorrelationData == nil && !m.UTF8 && len(m.Headers) == 0 && m.Expires.IsZero() {
		return p
	}
	pp := &paho.PublishProperties{ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, CorrelationData: m.CorrelationData}
	if m.UTF8 {
		pp.PayloadFormat = new(byte(1))
	}
	if !m.Expires.IsZero() {
		left := max(time.Until(m.Expires), time.Second)
		pp.MessageExpiry = new(uint32(left / time.Second))
	}
	for _, h := range m.Headers {
		pp.User = append(pp.User, paho.UserProperty{Key: h.Key, Value: h.Value})
	}
	p.Properties = pp
	return p
}

func (r *v5) receiveMaximum() int { return r.receiveMax }

func (r *v5) publish(ctx context.Context, name string, m *message.Message, qos byte) ack {
	p := toV5(name, m, qos)
	if qos == 0 {
		_, err := r.c.Publish(ctx, p)
		return doneAck{err}
	}
	a := &v5Ack{done: make(chan struct{})}
	r.tap.expect(a)
	// AsyncSend returns once the packet is in the session and written;
	// it blocks while the broker's receive maximum is in flight.
	_, err := r.c.PublishWithOptions(ctx, p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	if err != nil && !errors.Is(err, paho.ErrNetworkErrorAfterStored) {
		r.tap.expect(nil)
		return doneAck{err}
	}
	return a
}

func (r *v5) lost() <-chan struct{} { return r.gone }

func (r *v5) close() {
	select {
	case <-r.gone:
	default:
		_ = r.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	}
	<-r.gone
}

// v5Ack completes when the broker acknowledged a QoS 1 or 2 publish, or
// the session let go of it (the connection ended first).
type v5Ack struct {
	done chan struct{}
	err  error
}

func (a *v5Ack) Done() <-chan struct{} { return a.done }
func (a *v5Ack) Error() error          { return a.err }

var errUnacknowledged = errors.New("connection ended before the broker acknowledged the message")

// finish records the session's answer: PUBACK or PUBCOMP with its reason,
// or the empty packet of a session that let go.
func (a *v5Ack) finish(cp packets.ControlPacket) {
	switch c := cp.Content.(type) {
	case *packets.Puback:
		if c.ReasonCode >= 0x80 {
			a.err = &refusedPublish{"PUBACK", c.ReasonCode}
		}
	case *packets.Pubcomp:
		if c.ReasonCode >= 0x80 {
			a.err = &refusedPublish{"PUBCOMP", c.ReasonCode}
		}
	case *packets.Pubrec: // the session answers with the PUBREC only when it refused
		a.err = &refusedPublish{"PUBREC", c.ReasonCode}
	default:
		a.err = errUnacknowledged
	}
	close(a.done)
}

// ackTap is the session state with a hook on the publishes added to it:
// the next one gets the v5Ack set by expect, told its outcome through a
// channel of its own. Publishes come from one goroutine, so "next" is
// unambiguous.
type ackTap struct {
	pahosession.SessionManager
	gone chan struct{} // the connection's end: a session that forgets, sends nothing
	mu   sync.Mutex
	next *v5Ack
}

func (t *ackTap) expect(a *v5Ack) {
	t.mu.Lock()
	t.next = a
	t.mu.Unlock()
}

func (t *ackTap) AddToSession(ctx context.Context, p pahosession.Packet, resp chan<- packets.ControlPacket) error {
	t.mu.Lock()
	a := t.next
	if p.Type() == packets.PUBLISH {
		t.next = nil
	}
	t.mu.Unlock()
	if a == nil || p.Type() != packets.PUBLISH {
		return t.SessionManager.AddToSession(ctx, p, resp)
	}
	mine := make(chan packets.ControlPacket, 1)
	if err := t.SessionManager.AddToSession(ctx, p, mine); err != nil {
		return err
	}
	go func() {
		select {
		case cp := <-mine:
			a.finish(cp)
		case <-t.gone:
			select { // an answer that came just before the end counts
			case cp := <-mine:
				a.finish(cp)
			default:
				a.finish(packets.ControlPacket{})
			}
		}
	}()
	return nil
}
