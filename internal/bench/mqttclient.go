package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

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

func dialMQTT(addr string, version byte, id string) (*mqttConn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
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
		return nil, fmt.Errorf("connect %s: %v (reason %d)", addr, err, ack.ReasonCode)
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
