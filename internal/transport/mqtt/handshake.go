package mqtt

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/auth"
	"streamhub/internal/core/message"
	"streamhub/internal/limit"
)

// handshake reads CONNECT and answers CONNACK; it reports success.
func (c *conn) handshake() bool {
	s := c.srv
	c.nc.SetReadDeadline(c.connectDeadline())
	pk, err := readPacket(&c.in, 0, min(s.cfg.MaxPacket, s.cfg.ConnectMax), s.cfg.Partial)
	if err != nil || pk.FixedHeader.Type != packets.Connect {
		if code, ok := reasonOf(err); ok && pk.FixedHeader.Type == packets.Connect && pk.ProtocolVersion == 5 {
			c.refuse(pk, code)
		}
		return false
	}
	c.version, c.bridge = bridgeLevel(pk.ProtocolVersion)
	pk.ProtocolVersion = c.version
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		c.refuse(pk, code)
		return false
	}
	if s.cfg.Available != nil && !s.cfg.Available() {
		c.refuse(pk, packets.ErrServerUnavailable) // 3.1.1: 0x03, v3ConnackCode's default
		return false
	}
	cp := pk.Connect
	if cp.WillFlag && s.hub.ValidateName(cp.WillTopic) != nil {
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
	anonymous := false
	certUser := peerCertUser(c.nc)
	switch {
	case certUser != "" && !cp.PasswordFlag:
		who = p.Certificate(certUser, id)
	case cp.PasswordFlag || cp.UsernameFlag:
		// The read deadline set above does not bound an HTTP callback:
		// the policy's own timeout does.
		who, aerr = p.Login(context.Background(), auth.Credentials{Protocol: "mqtt", Remote: c.nc.RemoteAddr().String(),
			User: string(cp.Username), Password: string(cp.Password), ClientID: id})
	default:
		who, aerr = p.Anonymous(id)
		anonymous = true
	}
	if aerr != nil {
		code := packets.ErrBadUsernameOrPassword
		switch {
		case errors.Is(aerr, auth.ErrNoCredentials):
			code = packets.ErrNotAuthorized
		case errors.Is(aerr, limit.ErrTooManyFailures):
			code = packets.Code{Code: packets.ErrConnectionRateExceeded.Code, Reason: aerr.Error()}
		case errors.Is(aerr, auth.ErrUnavailable):
			code = packets.ErrServerUnavailable // 3.1.1: 0x03
		}
		c.refuse(pk, code)
		return false
	}
	who.ClientID = id
	if cp.WillFlag && !p.CanPublish(who, cp.WillTopic) {
		c.refuse(pk, packets.ErrNotAuthorized)
		return false
	}
	if !anonymous {
		c.who = who // an anonymous identity is made again when asked
	}
	c.keepalive = cp.Keepalive
	serverKeepAlive := false
	if max := keepAliveSeconds(s.cfg.KeepAliveMax); max > 0 && (c.keepalive == 0 || c.keepalive > max) {
		c.keepalive, serverKeepAlive = max, true
	}
	c.clientMaxPacket = pk.Properties.MaximumPacketSize
	inflight := min(s.cfg.Inflight, math.MaxUint16)
	if rm := int(pk.Properties.ReceiveMaximum); c.version == 5 && rm > 0 {
		inflight = min(inflight, rm)
	}
	c.inflightMax = uint16(inflight)
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

	ss, present, ok := c.takeOverSession(who, cp, expiry)
	if !ok { // the client id is another identity's, and the config says refuse
		c.refuse(pk, packets.ErrClientIdentifierNotValid)
		return false
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
			ack.Properties.ServerKeepAlive, ack.Properties.ServerKeepAliveFlag = c.keepalive, true
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
	case packets.ErrNotAuthorized.Code, packets.ErrConnectionRateExceeded.Code:
		return packets.Err3NotAuthorized.Code
	}
	return packets.Err3ServerUnavailable.Code
}

// keepAliveSeconds is a keep-alive cap in the protocol's unit: whole
// seconds (rounded up, so that a cap never cuts a client short), at most
// what the protocol can say.
func keepAliveSeconds(d time.Duration) uint16 {
	if d <= 0 {
		return 0
	}
	return uint16(min((d+time.Second-1)/time.Second, math.MaxUint16))
}
