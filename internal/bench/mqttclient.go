package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/mochi-mqtt/server/v2/packets"
)

// mqttConn is a minimal MQTT client for load generation: no session
// state, pipelined publishes, and a reader that hands every PUBLISH's
// payload to a callback, so the generator costs little per message.
type mqttConn struct {
	nc      net.Conn
	br      *bufio.Reader
	version byte
	wmu     sync.Mutex
	bw      *bufio.Writer
	buf     bytes.Buffer
	nextID  uint16
	acks    chan struct{}
}

// mqttDial returns how to open a connection to an MQTT target:
// mqtt://HOST:PORT (TCP), mqtts://HOST:PORT (TLS, trusting tc's CAs, or the
// system's without tc), or mqtt+ws://HOST:PORT/PATH and mqtt+wss://...
// (MQTT over WebSocket, subprotocol mqtt). ok is false for other targets.
func mqttDial(target string, tc *tls.Config) (dial func() (net.Conn, error), ok bool) {
	scheme, rest, _ := strings.Cut(target, "://")
	switch scheme {
	case "mqtt":
		return func() (net.Conn, error) { return net.DialTimeout("tcp", rest, 10*time.Second) }, true
	case "mqtts":
		tc := tlsFor(tc)
		return func() (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", rest, tc)
		}, true
	case "mqtt+ws", "mqtt+wss":
		url := strings.TrimPrefix(scheme, "mqtt+") + "://" + rest
		return func() (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			opts := wsDialOptions(tc)
			if opts == nil {
				opts = &websocket.DialOptions{}
			}
			opts.Subprotocols = []string{"mqtt"}
			c, _, err := websocket.Dial(ctx, url, opts)
			if err != nil {
				return nil, fmt.Errorf("mqtt over websocket %s: %w", url, err)
			}
			c.SetReadLimit(-1)
			return websocket.NetConn(context.Background(), c, websocket.MessageBinary), nil
		}, true
	}
	return nil, false
}

// tlsFor is tc, or an empty configuration (the system's CAs) without one.
func tlsFor(tc *tls.Config) *tls.Config {
	if tc == nil {
		return &tls.Config{}
	}
	return tc
}

func dialMQTT(dial func() (net.Conn, error), version byte, id string) (*mqttConn, error) {
	nc, err := dial()
	if err != nil {
		return nil, err
	}
	c := &mqttConn{nc: nc, br: bufio.NewReaderSize(nc, 64<<10), bw: bufio.NewWriterSize(nc, 64<<10), version: version,
		acks: make(chan struct{}, 1<<16)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: true, Keepalive: 60}}
	if err := c.write(&pk, true); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack, err := c.read()
	nc.SetReadDeadline(time.Time{})
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("connect %s: %v (reason %d)", nc.RemoteAddr(), err, ack.ReasonCode)
	}
	return c, nil
}

func (c *mqttConn) write(pk *packets.Packet, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	pk.ProtocolVersion = c.version
	c.buf.Reset()
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&c.buf)
	case packets.Publish:
		err = pk.PublishEncode(&c.buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&c.buf)
	case packets.Puback:
		err = pk.PubackEncode(&c.buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&c.buf)
	}
	if err != nil {
		return err
	}
	if _, err := c.bw.Write(c.buf.Bytes()); err != nil {
		return err
	}
	if flush {
		return c.bw.Flush()
	}
	return nil
}

func (c *mqttConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.bw.Flush()
}

func (c *mqttConn) read() (packets.Packet, error) {
	var pk packets.Packet
	b, err := c.br.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.br)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = c.version
	body := make([]byte, n)
	if _, err := io.ReadFull(c.br, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	}
	return pk, err
}

func (c *mqttConn) subscribe(filter string, qos byte) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}}
	if err := c.write(&pk, true); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	for {
		ack, err := c.read()
		if err != nil {
			return err
		}
		if ack.FixedHeader.Type == packets.Suback {
			if len(ack.ReasonCodes) == 0 || ack.ReasonCodes[0] >= 0x80 {
				return errors.New("subscription refused")
			}
			return nil
		}
	}
}

// publish queues one PUBLISH; QoS 1 ones are counted back by readAcks.
func (c *mqttConn) publish(topic string, payload []byte, qos byte, flush bool) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: payload}
	if qos > 0 {
		c.nextID++
		if c.nextID == 0 {
			c.nextID = 1
		}
		pk.PacketID = c.nextID
	}
	return c.write(&pk, flush)
}

// consume reads until the connection ends, calling onPublish for each
// message and acknowledging QoS 1 ones; PUBACKs go to c.acks.
func (c *mqttConn) consume(onPublish func(payload []byte)) {
	for {
		pk, err := c.read()
		if err != nil {
			return
		}
		switch pk.FixedHeader.Type {
		case packets.Publish:
			onPublish(pk.Payload)
			if pk.FixedHeader.Qos == 1 {
				c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID}, c.br.Buffered() == 0)
			}
		case packets.Puback:
			select {
			case c.acks <- struct{}{}:
			default:
			}
		}
	}
}

func (c *mqttConn) close() {
	c.write(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}}, true)
	c.nc.Close()
}
