package mqtt

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/core/topic"
	"streamhub/internal/limit"
	"streamhub/internal/transport/kit/deadline"
)

// errSkipped marks a packet not sent because it exceeds the client's
// maximum packet size.
var errSkipped = errors.New("mqtt: packet over the client's maximum size")

var (
	codeShuttingDown = packets.ErrServerShuttingDown
	codeTakenOver    = packets.ErrSessionTakenOver
)

// conn is one network connection of a client. It has one goroutine, its
// reader, for as long as it lives; a writer goroutine runs only while there
// is something to send, and the write buffer is borrowed for that time, so
// an idle connection holds little more than its reader's stack.
type conn struct {
	srv     *Server
	nc      net.Conn
	in      *elasticReader
	version byte
	sess    *session
	id      *auth.Identity
	limiter *rate.Limiter
	release func() // frees the connection's place in the limits
	// disconnected ends the connection's count in the metrics.
	disconnected func()

	// Client limits (v5), read-only after CONNECT.
	clientMaxPacket int
	inflightMax     int
	aliasMax        uint16
	keepalive       time.Duration

	inAliases map[uint16]string // reader-owned
	readDL    deadline.Lazy     // reader-owned
	// midPacket is set while the reader is inside a packet, packetDue once
	// it has had to wait for the rest of it (reader-owned).
	midPacket bool
	packetDue time.Time

	writeMu  sync.Mutex // guards out and outAlias
	out      *[]byte    // pending output, borrowed from outBuffers while not empty
	writeDL  deadline.Lazy
	outAlias map[string]uint16
	// wstate is the writer's state: writerIdle, writerBusy, or writerAgain
	// when more work arrived during a run.
	wstate atomic.Int32

	done      chan struct{}
	gone      chan struct{} // closed by finish, once the session is detached
	closeOnce sync.Once
	// reason, if set before close, is sent to a v5 client as DISCONNECT.
	reasonMu sync.Mutex
	reason   *packets.Code
	// since is when the connection was accepted: messages queued before
	// it do not make it a slow consumer (see session.overflowed).
	since time.Time
}

const (
	writerIdle = iota
	writerBusy
	writerAgain
)

// outBuffers lends write buffers to connections with output pending.
var outBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// ServeConn runs the MQTT protocol on nc until it ends; the WebSocket
// listener hands its connections here.
func (s *Server) ServeConn(nc net.Conn) {
	if c := s.open(nc); c != nil {
		<-c.gone
	}
}

// open handshakes on the caller's goroutine and, once the client is
// connected, leaves the connection to its reader; it returns nil if the
// handshake failed. The TCP listeners' goroutines return after it: an
// idle connection then has no goroutine but its waiting reader.
func (s *Server) open(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, done: make(chan struct{}), gone: make(chan struct{}), since: time.Now()}
	c.in = newElasticReader(nc, c.beforeRead)
	c.wstate.Store(writerBusy) // no writer before CONNACK is out: pokes wait
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if !c.handshake() {
		if c.release != nil {
			c.release()
		}
		c.finish()
		return nil
	}
	c.disconnected = s.meter.Connected()
	s.online.Add(1)
	s.log.Debug("connection opened", "transport", "mqtt", "remote", nc.RemoteAddr().String(), "client", c.sess.id, "version", c.version)
	c.nc.SetReadDeadline(time.Time{}) // the handshake's; beforeRead sets the keep-alive's
	c.resend()
	c.wstate.Store(writerIdle)
	c.poke() // the resent flows, and whatever was queued before
	go c.readBurst()
	return c
}

// finish releases what an ended connection holds.
func (c *conn) finish() {
	s := c.srv
	c.in.release()
	c.nc.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	close(c.gone)
	s.wg.Done()
}

// readBurst waits for input, then handles packets while they are buffered,
// and hands the waiting to a new goroutine: a goroutine's stack grows while
// it handles packets and only a garbage collection shrinks it again, so the
// one left waiting on a quiet connection is always a fresh, small one.
func (c *conn) readBurst() {
	if err := c.in.wait(); err != nil {
		c.end(c.readFailed(err))
		return
	}
	for {
		if ok, clean := c.handleNext(); !ok {
			c.end(clean)
			return
		}
		if c.in.Buffered() == 0 {
			go c.readBurst()
			return
		}
	}
}

// end closes a connected client's connection; clean tells whether it
// disconnected properly (so that its will is not sent).
func (c *conn) end(clean bool) {
	c.close()
	c.srv.log.Debug("connection closed", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "client", c.sess.id, "clean", clean)
	c.sess.detach(c, !clean)
	c.release()
	c.disconnected()
	c.srv.online.Add(-1)
	c.finish()
}

// beforeRead runs before each read from the socket: it moves the keep-alive
// deadline (set by the handshake until then), and refuses to once the
// connection is closed, whose deadline must stay in the past.
func (c *conn) beforeRead() error {
	if c.sess == nil {
		return nil
	}
	now := time.Now()
	at, set := c.readDL.Next(now, c.keepalive*3/2)
	switch {
	case c.midPacket && c.packetDue.IsZero():
		// A packet has begun and its rest is not here: it must arrive
		// within the packet timeout, keep-alive or not.
		c.packetDue, set = now.Add(c.srv.cfg.PacketTimeout), true
		fallthrough
	case c.midPacket:
		if at.IsZero() || c.packetDue.Before(at) {
			at = c.packetDue
		}
	case !c.packetDue.IsZero():
		// The packet that set its own deadline is done: the keep-alive's
		// (or none) applies again.
		c.packetDue = time.Time{}
		c.readDL.Reset()
		at, _ = c.readDL.Next(now, c.keepalive*3/2)
		set = true
	}
	if set {
		c.nc.SetReadDeadline(at)
	}
	select {
	case <-c.done:
		return net.ErrClosed
	default:
		return nil
	}
}

// handshake reads CONNECT and answers CONNACK; it reports success.
func (c *conn) handshake() bool {
	s := c.srv
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	pk, err := readPacket(c.in, 0, min(s.cfg.MaxPacket, s.cfg.ConnectMax), s.cfg.Partial)
	if err != nil || pk.FixedHeader.Type != packets.Connect {
		if code, ok := reasonOf(err); ok && pk.FixedHeader.Type == packets.Connect && pk.ProtocolVersion == 5 {
			c.refuse(pk, code)
		}
		return false
	}
	c.version = pk.ProtocolVersion
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		c.refuse(pk, code)
		return false
	}
	cp := pk.Connect
	if cp.WillFlag && topic.ValidateName(cp.WillTopic) != nil {
		c.refuse(pk, packets.ErrTopicNameInvalid)
		return false
	}
	assigned := ""
	id := strings.Clone(cp.ClientIdentifier) // the session keeps it; a view would keep the CONNECT
	if id == "" {
		if c.version < 5 && !cp.Clean {
			c.refuse(pk, packets.ErrClientIdentifierNotValid) // [MQTT-3.1.3-8]
			return false
		}
		id = s.nextClientID()
		assigned = id
	}
	// Authenticate: a user name and password (a JWT in the password is
	// verified as a token), or nothing.
	p := s.cfg.Policy
	var who *auth.Identity
	var aerr error
	certUser := peerCertUser(c.nc)
	switch {
	case certUser != "" && !cp.PasswordFlag:
		who = p.Certificate(certUser, id)
	case cp.PasswordFlag:
		who, aerr = p.Password(string(cp.Username), string(cp.Password), id)
	case cp.UsernameFlag:
		who, aerr = p.Password(string(cp.Username), "", id)
	default:
		who, aerr = p.Anonymous(id)
	}
	if aerr != nil {
		code := packets.ErrBadUsernameOrPassword
		if errors.Is(aerr, auth.ErrNoCredentials) {
			code = packets.ErrNotAuthorized
		}
		c.refuse(pk, code)
		return false
	}
	who.ClientID = id
	if cp.WillFlag && !p.CanPublish(who, cp.WillTopic) {
		c.refuse(pk, packets.ErrNotAuthorized)
		return false
	}
	c.id = who
	release, lerr := s.cfg.Conns.Acquire(c.nc.RemoteAddr().String())
	if lerr != nil {
		c.refuse(pk, packets.Code{Code: packets.ErrQuotaExceeded.Code, Reason: lerr.Error()})
		return false
	}
	c.release = release
	c.limiter = s.cfg.Rate.Limiter()
	c.keepalive = time.Duration(cp.Keepalive) * time.Second
	serverKeepAlive := false
	if max := s.cfg.KeepAliveMax; max > 0 && (c.keepalive == 0 || c.keepalive > max) {
		c.keepalive, serverKeepAlive = max, true
	}
	c.clientMaxPacket = int(pk.Properties.MaximumPacketSize)
	c.inflightMax = s.cfg.Inflight
	if rm := int(pk.Properties.ReceiveMaximum); c.version == 5 && rm > 0 {
		c.inflightMax = min(c.inflightMax, rm)
	}
	c.aliasMax = pk.Properties.TopicAliasMaximum

	expiry := time.Duration(0)
	switch {
	case c.version == 5:
		expiry = time.Duration(pk.Properties.SessionExpiryInterval) * time.Second
		if pk.Properties.SessionExpiryInterval == 0xFFFFFFFF {
			expiry = s.cfg.SessionExpiryMax
		}
	case !cp.Clean:
		expiry = s.cfg.SessionExpiryMax
	}
	if s.cfg.SessionExpiryMax > 0 {
		expiry = min(expiry, s.cfg.SessionExpiryMax)
	}

	owner := sessionOwner(p, who)
	terms := connectTerms{expiry: expiry}
	if cp.WillFlag {
		terms.will = willMessage(cp, sessionKey(owner, id))
		terms.willDelay = time.Duration(cp.WillProperties.WillDelayInterval) * time.Second
	}
	ss, present, ok := s.claimSession(c, owner, id, cp.Clean, terms)
	if !ok { // the client id is another identity's, and the config says refuse
		c.refuse(pk, packets.ErrClientIdentifierNotValid)
		return false
	}
	if present && !p.Open() {
		ss.mu.Lock()
		restricted := ss.restricted
		ss.mu.Unlock()
		if restricted { // checked with the rights the owner has now (a restored session's are narrower)
			ss.sub.Restrict(p.ReadCheck(who))
		}
	}

	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: c.version,
		SessionPresent: present, ReasonCode: packets.CodeSuccess.Code}
	if c.version == 5 {
		ack.Properties.ReceiveMaximum = s.cfg.ReceiveMaximum
		ack.Properties.MaximumPacketSize = uint32(s.cfg.MaxPacket)
		ack.Properties.TopicAliasMaximum = s.cfg.TopicAliasMax
		ack.Properties.AssignedClientID = assigned
		ack.Properties.RetainAvailable, ack.Properties.RetainAvailableFlag = 1, true
		ack.Properties.WildcardSubAvailable, ack.Properties.WildcardSubAvailableFlag = 1, true
		ack.Properties.SubIDAvailable, ack.Properties.SubIDAvailableFlag = 1, true
		ack.Properties.SharedSubAvailable, ack.Properties.SharedSubAvailableFlag = 1, true
		if serverKeepAlive {
			ack.Properties.ServerKeepAlive, ack.Properties.ServerKeepAliveFlag = uint16(c.keepalive/time.Second), true
		}
		if expiry != time.Duration(pk.Properties.SessionExpiryInterval)*time.Second && pk.Properties.SessionExpiryInterval != 0 {
			ack.Properties.SessionExpiryInterval = uint32(expiry / time.Second)
			ack.Properties.SessionExpiryIntervalFlag = true
		}
	}
	if err := c.send(&ack); err != nil {
		ss.detach(c, false)
		return false
	}
	return true
}

// willMessage is the will of a CONNECT, copied out of it: the session
// keeps the will, and a view would keep the whole CONNECT.
func willMessage(cp packets.ConnectParams, origin string) *message.Message {
	m := &message.Message{Topic: strings.Clone(cp.WillTopic), Payload: bytes.Clone(cp.WillPayload), Retain: cp.WillRetain,
		QoS: cp.WillQos, Origin: origin}
	applyProperties(m, &cp.WillProperties)
	m.ContentType, m.ResponseTopic = strings.Clone(m.ContentType), strings.Clone(m.ResponseTopic)
	m.CorrelationData = bytes.Clone(m.CorrelationData)
	for i, h := range m.Headers {
		m.Headers[i] = message.Header{Key: strings.Clone(h.Key), Value: strings.Clone(h.Value)}
	}
	return m
}

// applyProperties carries a PUBLISH's (or a will's) MQTT 5 properties over
// to m: content type, request/response, user properties and expiry.
func applyProperties(m *message.Message, pr *packets.Properties) {
	m.ContentType, m.ResponseTopic, m.CorrelationData = pr.ContentType, pr.ResponseTopic, pr.CorrelationData
	for _, u := range pr.User {
		m.Headers = append(m.Headers, message.Header{Key: u.Key, Value: u.Val})
	}
	if e := pr.MessageExpiryInterval; e > 0 {
		m.Expires = time.Now().Add(time.Duration(e) * time.Second)
	}
}

// refuse answers a failed CONNECT with the reason (mapped for 3.1.1).
func (c *conn) refuse(pk packets.Packet, code packets.Code) {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: pk.ProtocolVersion,
		ReasonCode: code.Code}
	if pk.ProtocolVersion < 5 {
		ack.ReasonCode = v3ConnackCode(code)
	} else if code.Reason != "" {
		ack.Properties.ReasonString = code.Reason
	}
	_ = c.send(&ack)
}

func v3ConnackCode(code packets.Code) byte {
	switch code.Code {
	case packets.ErrUnsupportedProtocolVersion.Code:
		return packets.Err3UnsupportedProtocolVersion.Code
	case packets.ErrClientIdentifierNotValid.Code:
		return packets.Err3ClientIdentifierNotValid.Code
	case packets.ErrBadUsernameOrPassword.Code:
		return packets.ErrMalformedUsernameOrPassword.Code
	case packets.ErrNotAuthorized.Code:
		return packets.Err3NotAuthorized.Code
	}
	return packets.Err3ServerUnavailable.Code
}

// send encodes pk and writes it at once (handshake and final packets).
func (c *conn) send(pk *packets.Packet) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.encodeLocked(pk); err != nil {
		return err
	}
	return c.flushLocked()
}

// queue encodes pk into the write buffer; the writer flushes it.
func (c *conn) queue(pk *packets.Packet) {
	c.writeMu.Lock()
	err := c.encodeLocked(pk)
	c.writeMu.Unlock()
	if err != nil {
		c.close()
		return
	}
	c.poke()
}

// encodeLocked appends pk to the output; the caller holds writeMu.
func (c *conn) encodeLocked(pk *packets.Packet) error {
	pk.ProtocolVersion = c.version
	pk.Mods.MaxSize = uint32(c.clientMaxPacket)
	var b bytes.Buffer
	if err := encode(&b, pk); err != nil {
		return err
	}
	if c.clientMaxPacket > 0 && b.Len() > c.clientMaxPacket {
		return errSkipped // [MQTT-3.1.2-24]: never send a packet over the client's maximum
	}
	c.appendLocked(b.Bytes())
	return nil
}

// outLocked is the output buffer, borrowed if the connection has none;
// the caller holds writeMu.
func (c *conn) outLocked() *[]byte {
	if c.out == nil {
		c.out = outBuffers.Get().(*[]byte)
	}
	return c.out
}

// appendLocked adds bytes to the output; the caller holds writeMu.
func (c *conn) appendLocked(p []byte) {
	out := c.outLocked()
	*out = append(*out, p...)
}

// flushLocked writes the output and gives the buffer back; the caller
// holds writeMu.
func (c *conn) flushLocked() error {
	if c.out == nil {
		return nil
	}
	b := c.out
	c.out = nil
	var err error
	if len(*b) > 0 {
		if at, set := c.writeDL.Next(time.Now(), c.srv.cfg.WriteTimeout); set {
			c.nc.SetWriteDeadline(at)
		}
		_, err = c.nc.Write(*b)
	}
	if cap(*b) <= 64<<10 { // an occasional huge message's buffer is not kept
		*b = (*b)[:0]
		outBuffers.Put(b)
	}
	return err
}

// poke asks for a writer run, starting a writer if none is running.
func (c *conn) poke() {
	for {
		st := c.wstate.Load()
		if st == writerAgain {
			return
		}
		if c.wstate.CompareAndSwap(st, st+1) {
			if st == writerIdle {
				go c.writeLoop()
			}
			return
		}
	}
}

// kick closes the connection with a reason (v5 DISCONNECT).
func (c *conn) kick(code packets.Code) {
	c.reasonMu.Lock()
	if c.reason == nil {
		c.reason = &code
	}
	c.reasonMu.Unlock()
	c.close()
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.reasonMu.Lock()
		reason := c.reason
		c.reasonMu.Unlock()
		if reason != nil && c.version == 5 && c.sess != nil {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: reason.Code}
			pk.Properties.ReasonString = reason.Reason
			_ = c.send(&pk)
		}
		// Unblock the reader (beforeRead checks done after each deadline it
		// sets, so it cannot move this one away); the writer sees done.
		// The socket itself closes in finish, once the client had a chance
		// to read the DISCONNECT.
		c.nc.SetReadDeadline(time.Now())
	})
}

// readFailed ends the connection after a failed read, with the reason a v5
// client is told; a clean disconnection is never a failed read.
func (c *conn) readFailed(err error) (clean bool) {
	select {
	case <-c.done:
		return false
	default:
	}
	var ne net.Error
	switch code, ok := reasonOf(err); {
	case ok:
		c.srv.remote.Info("refused a packet", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "reason", code.Reason, "err", err)
		c.kick(code)
	case errors.As(err, &ne) && ne.Timeout() && c.midPacket:
		c.kick(packets.Code{Code: packets.ErrKeepAliveTimeout.Code, Reason: "packet not completed within the packet timeout"})
	case errors.As(err, &ne) && ne.Timeout():
		c.kick(packets.ErrKeepAliveTimeout)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
	default:
		c.srv.remote.Info("malformed packet", "transport", "mqtt", "remote", c.nc.RemoteAddr().String(), "err", err)
		c.kick(packets.ErrMalformedPacket)
	}
	return false
}

// handleNext reads one packet and acts on it; ok is false when the
// connection is to end, clean then telling whether the client disconnected
// properly.
func (c *conn) handleNext() (ok, clean bool) {
	c.midPacket = true
	fh, body, err := readFrame(c.in, c.srv.cfg.MaxPacket, c.srv.cfg.Partial)
	if err != nil {
		return false, c.readFailed(err)
	}
	c.midPacket = false
	if fh.Type == packets.Publish {
		in, err := decodePublish(fh, body, c.version)
		if err != nil {
			return false, c.readFailed(err)
		}
		return c.onPublish(c.srv.ctx, &in), false
	}
	return c.handleControl(fh, body)
}

// handleControl acts on a packet other than PUBLISH.
func (c *conn) handleControl(fh packets.FixedHeader, body []byte) (ok, clean bool) {
	s := c.srv
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: c.version}
	if err := decodeBody(&pk, body); err != nil {
		return false, c.readFailed(err)
	}
	switch pk.FixedHeader.Type {
	case packets.Puback:
		c.onAck(pk.PacketID, awaitPuback)
	case packets.Pubrec:
		if pk.ReasonCode >= 0x80 {
			c.onAck(pk.PacketID, awaitPubrec) // refused: the flow ends here
			return true, false
		}
		c.onPubrec(pk.PacketID)
	case packets.Pubcomp:
		c.onAck(pk.PacketID, awaitPubcomp)
	case packets.Pubrel:
		c.sess.mu.Lock()
		_, known := c.sess.inboundQ2[pk.PacketID]
		delete(c.sess.inboundQ2, pk.PacketID)
		c.sess.mu.Unlock()
		reason := byte(0)
		if !known {
			reason = packets.ErrPacketIdentifierNotFound.Code
		}
		c.queueAck(packets.Pubcomp, pk.PacketID, reason)
	case packets.Subscribe:
		if !c.onSubscribe(&pk) {
			return false, false
		}
	case packets.Unsubscribe:
		if code := pk.UnsubscribeValidate(); code != packets.CodeSuccess {
			c.kick(code)
			return false, false
		}
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID}
		for _, f := range pk.Filters {
			code := packets.CodeSuccess.Code
			if !c.sess.unsubscribe(f.Filter) {
				code = packets.CodeNoSubscriptionExisted.Code
			}
			ack.ReasonCodes = append(ack.ReasonCodes, code)
		}
		c.sess.persist()
		c.queue(&ack)
	case packets.Pingreq:
		c.queue(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	case packets.Disconnect:
		if c.version == 5 && pk.Properties.SessionExpiryIntervalFlag {
			c.sess.mu.Lock()
			if c.sess.expiry == 0 && pk.Properties.SessionExpiryInterval > 0 {
				c.sess.mu.Unlock()
				c.kick(packets.ErrProtocolViolationZeroNonZeroExpiry) // [MQTT-3.14.2-2]
				return false, false
			}
			c.sess.expiry = time.Duration(pk.Properties.SessionExpiryInterval) * time.Second
			if max := s.cfg.SessionExpiryMax; max > 0 {
				c.sess.expiry = min(c.sess.expiry, max)
			}
			c.sess.mu.Unlock()
		}
		return false, pk.ReasonCode != packets.CodeDisconnectWillMessage.Code
	case packets.Connect:
		c.kick(packets.ErrProtocolViolationSecondConnect)
		return false, false
	case packets.Auth:
		c.kick(packets.ErrBadAuthenticationMethod)
		return false, false
	default:
		c.kick(packets.ErrProtocolViolation)
		return false, false
	}
	return true, false
}

// onPublish takes a client's PUBLISH into the hub and acknowledges it.
func (c *conn) onPublish(ctx context.Context, pk *inPublish) bool {
	qos := pk.qos
	name := pk.topic
	if pr := pk.props; pr != nil && pr.TopicAliasFlag {
		alias := pr.TopicAlias
		if alias == 0 || alias > c.srv.cfg.TopicAliasMax {
			c.kick(packets.ErrTopicAliasInvalid)
			return false
		}
		if name != "" {
			if c.inAliases == nil {
				c.inAliases = map[uint16]string{}
			}
			c.inAliases[alias] = name
		} else if name = c.inAliases[alias]; name == "" {
			c.kick(packets.ErrTopicAliasInvalid)
			return false
		}
	}
	if !topic.IsValidName(name) {
		c.kick(packets.ErrTopicNameInvalid)
		return false
	}
	if qos > 0 && pk.id == 0 {
		c.kick(packets.ErrProtocolViolationNoPacketID)
		return false
	}
	if !limit.Allow(c.limiter) {
		c.kick(packets.ErrMessageRateTooHigh)
		return false
	}
	if !c.srv.cfg.Policy.CanPublish(c.id, name) {
		// Refused: v5 says so in the acknowledgement; v3.1.1 has no way
		// to, so the message is acknowledged and dropped, as Mosquitto does.
		c.ackPublish(qos, pk.id, packets.ErrNotAuthorized.Code)
		return true
	}
	if qos == 2 {
		c.sess.mu.Lock()
		_, dup := c.sess.inboundQ2[pk.id]
		full := !dup && len(c.sess.inboundQ2) >= int(c.srv.cfg.ReceiveMaximum)
		if !dup && !full {
			c.sess.inboundQ2[pk.id] = struct{}{}
		}
		c.sess.mu.Unlock()
		if full {
			c.kick(packets.ErrReceiveMaximum)
			return false
		}
		if dup { // already taken in: acknowledge again, never publish twice
			c.ackPublish(qos, pk.id, 0)
			return true
		}
	}
	m := &message.Message{Topic: name, Payload: pk.payload, Retain: pk.retain, QoS: qos, Origin: c.sess.id}
	if pr := pk.props; pr != nil {
		applyProperties(m, pr)
		m.UTF8 = pr.PayloadFormatFlag && pr.PayloadFormat == 1
	}
	reason := packets.CodeSuccess.Code
	if _, err := c.srv.hub.Publish(ctx, m); err != nil {
		if errors.Is(err, hub.ErrTooLarge) {
			// A packet over the server's limits is a protocol error, not a
			// refused publish: 0x95 is no PUBACK reason code [MQTT-3.4.2.1].
			c.kick(packets.Code{Code: packets.ErrPacketTooLarge.Code, Reason: err.Error()})
			return false
		}
		reason = packets.ErrUnspecifiedError.Code
		if qos == 0 || c.version < 5 {
			c.kick(packets.Code{Code: reason, Reason: err.Error()})
			return false
		}
	} else {
		c.srv.received.Add(1)
		c.srv.meter.Received(1)
	}
	c.ackPublish(qos, pk.id, reason)
	return true
}

// ackPublish queues the PUBACK (QoS 1) or PUBREC (QoS 2) of a publish;
// reason reaches MQTT 5 clients only.
func (c *conn) ackPublish(qos byte, id uint16, reason byte) {
	switch qos {
	case 1:
		c.queueAck(packets.Puback, id, reason)
	case 2:
		c.queueAck(packets.Pubrec, id, reason)
	}
}

// queueAck queues a PUBACK, PUBREC, PUBREL or PUBCOMP; the writer sends it.
func (c *conn) queueAck(typ byte, id uint16, reason byte) {
	c.writeMu.Lock()
	out := c.outLocked()
	*out = appendAck(*out, typ, id, reason, c.version)
	c.writeMu.Unlock()
	c.poke()
}

func (c *conn) onSubscribe(pk *packets.Packet) bool {
	if code := pk.SubscribeValidate(); code != packets.CodeSuccess {
		c.kick(code)
		return false
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID}
	for _, f := range pk.Filters {
		f.Filter = strings.Clone(f.Filter) // kept by the session and the hub: not a view into the packet
		if _, _, shared := parseShare(f.Filter); shared && f.NoLocal {
			c.kick(packets.ErrProtocolViolationInvalidSharedNoLocal) // [MQTT-3.8.3-4]
			return false
		}
		if c.version < 5 {
			f.RetainHandling, f.NoLocal, f.RetainAsPublished, f.Identifier = 0, false, false, 0
		}
		if !c.authorizeSubscribe(f.Filter) {
			code := packets.ErrNotAuthorized.Code
			if c.version < 5 {
				code = 0x80
			}
			ack.ReasonCodes = append(ack.ReasonCodes, code)
			continue
		}
		code := c.sess.subscribe(f)
		if c.version < 5 && code >= 0x80 {
			code = 0x80
		}
		ack.ReasonCodes = append(ack.ReasonCodes, code)
	}
	c.sess.persist()
	c.queue(&ack)
	return true
}

// authorizeSubscribe applies the policy to one filter: refused, or allowed
// with the session restricted to readable messages where a wildcard reaches
// beyond the grants. A shared subscription must be allowed whole.
func (c *conn) authorizeSubscribe(filter string) bool {
	p := c.srv.cfg.Policy
	if p.Open() {
		return true
	}
	f := filter
	_, inner, shared := parseShare(filter)
	if shared {
		f = inner
	}
	ok, restricted := p.CanSubscribe(c.id, f)
	if !ok || (shared && restricted) {
		return false
	}
	if restricted {
		c.sess.restrict(p.ReadCheck(c.id))
	}
	return true
}

// onAck ends an outbound flow in state want and frees its slot.
func (c *conn) onAck(id uint16, want int) {
	ss := c.sess
	ss.mu.Lock()
	if o := ss.inflight[id]; o != nil && o.state == want {
		delete(ss.inflight, id)
		ss.order = compactOrder(ss.order, ss.inflight)
	}
	ss.mu.Unlock()
	c.poke()
}

func (c *conn) onPubrec(id uint16) {
	ss := c.sess
	ss.mu.Lock()
	o := ss.inflight[id]
	if o != nil && o.state == awaitPubrec {
		o.state = awaitPubcomp
	}
	ss.mu.Unlock()
	reason := byte(0)
	if o == nil {
		reason = packets.ErrPacketIdentifierNotFound.Code
	}
	c.queueAck(packets.Pubrel, id, reason)
}
