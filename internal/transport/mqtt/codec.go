package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/limit"
)

// The packet codec is mochi-mqtt's packets package: a well-kept encoder and
// decoder of every packet type of MQTT 3.1.1 and 5, with properties and
// validation. This file adapts it to a buffered stream.

// errTooLarge is returned for a packet over the server's maximum size.
var errTooLarge = packets.ErrPacketTooLarge

// byteReader is a buffered input: a connection's elasticReader, or a
// bufio.Reader in tests.
type byteReader interface {
	io.Reader
	io.ByteReader
	Buffered() int // bytes readable without blocking
}

// errServerBusy ends a connection whose packet needs memory the server's
// partial-packet budget no longer has. It is 0x89 (Server busy) rather
// than 0x97 (Quota exceeded): the budget is the whole server's, and the
// client may have asked for nothing unusual.
var errServerBusy = packets.ErrServerBusy

// readPacket reads one packet of protocol version from r. A packet larger
// than maxSize (counting its fixed header) is refused before it is read;
// budget (nil: none) bounds the memory of packets still arriving.
func readPacket(r byteReader, version byte, maxSize int, budget *limit.Budget) (packets.Packet, error) {
	var pk packets.Packet
	fh, body, err := readFrame(r, maxSize, budget)
	pk.FixedHeader = fh
	pk.ProtocolVersion = version
	if err != nil {
		return pk, err
	}
	return pk, decodeBody(&pk, body)
}

// readFrame reads one packet's fixed header and its body, undecoded.
func readFrame(r byteReader, maxSize int, budget *limit.Budget) (fh packets.FixedHeader, body []byte, err error) {
	b, err := r.ReadByte()
	if err != nil {
		return fh, nil, err
	}
	if err := fh.Decode(b); err != nil {
		return fh, nil, err
	}
	n, lenBytes, err := packets.DecodeLength(r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fh, nil, io.ErrUnexpectedEOF
		}
		return fh, nil, err
	}
	if maxSize > 0 && 1+lenBytes+n > maxSize {
		return fh, nil, errTooLarge
	}
	fh.Remaining = n
	if body, err = readBody(r, n, budget); err != nil {
		return fh, nil, err
	}
	return fh, body, nil
}

// firstChunk is the first allocation for a body that has not all arrived.
const firstChunk = 4 << 10

// readBody reads a body of n bytes. A declared length is only a promise:
// a body already buffered is copied out at once, and one still arriving
// gets memory as its bytes come (doubling from firstChunk, so at most
// twice what arrived), reserved in budget until the body is complete.
// A peer that announces 8 MiB and sends 3 bytes thus costs 4 KiB.
func readBody(r byteReader, n int, budget *limit.Budget) ([]byte, error) {
	if r.Buffered() >= n {
		body := make([]byte, n)
		_, err := io.ReadFull(r, body) // never blocks
		return body, err
	}
	reserved := 0
	defer func() { budget.Release(reserved) }()
	var body []byte
	for len(body) < n {
		if len(body) == cap(body) {
			size := min(n, max(2*cap(body), firstChunk, r.Buffered()))
			if !budget.Reserve(size - reserved) {
				return nil, errServerBusy
			}
			reserved = size
			body = slices.Grow(body, size-len(body))
		}
		got, err := r.Read(body[len(body):min(n, cap(body))])
		body = body[:len(body)+got]
		if err != nil && len(body) < n {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("mqtt: read packet body: %w", err)
		}
	}
	return body, nil
}

// decodeBody decodes the variable header and payload of pk from body. The
// library's decoders index past the end of some truncated packets (a v5
// SUBSCRIBE whose last filter lacks its options byte, found by
// FuzzReadPacket); such a panic is a malformed packet, never a crash.
func decodeBody(pk *packets.Packet, body []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = packets.ErrMalformedPacket
		}
	}()
	switch pk.FixedHeader.Type {
	case packets.Connect:
		return pk.ConnectDecode(body)
	case packets.Publish:
		return pk.PublishDecode(body)
	case packets.Puback:
		return pk.PubackDecode(body)
	case packets.Pubrec:
		return pk.PubrecDecode(body)
	case packets.Pubrel:
		return pk.PubrelDecode(body)
	case packets.Pubcomp:
		return pk.PubcompDecode(body)
	case packets.Subscribe:
		return pk.SubscribeDecode(body)
	case packets.Unsubscribe:
		return pk.UnsubscribeDecode(body)
	case packets.Pingreq, packets.Pingresp:
		if len(body) != 0 {
			return packets.ErrMalformedPacket
		}
		return nil
	case packets.Disconnect:
		if pk.ProtocolVersion == 5 && len(body) == 1 {
			// A reason code alone is valid; mochi's decoder skips it.
			pk.ReasonCode = body[0]
			return nil
		}
		return pk.DisconnectDecode(body)
	case packets.Auth:
		return pk.AuthDecode(body)
	case packets.Connack:
		return pk.ConnackDecode(body)
	case packets.Suback:
		return pk.SubackDecode(body)
	case packets.Unsuback:
		return pk.UnsubackDecode(body)
	}
	return packets.ErrProtocolViolation
}

// encode appends pk's wire form to buf.
func encode(buf *bytes.Buffer, pk *packets.Packet) error {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		return pk.ConnackEncode(buf)
	case packets.Publish:
		return pk.PublishEncode(buf)
	case packets.Puback:
		return pk.PubackEncode(buf)
	case packets.Pubrec:
		return pk.PubrecEncode(buf)
	case packets.Pubrel:
		return pk.PubrelEncode(buf)
	case packets.Pubcomp:
		return pk.PubcompEncode(buf)
	case packets.Suback:
		return pk.SubackEncode(buf)
	case packets.Unsuback:
		return pk.UnsubackEncode(buf)
	case packets.Pingresp:
		return pk.PingrespEncode(buf)
	case packets.Disconnect:
		return pk.DisconnectEncode(buf)
	case packets.Connect:
		return pk.ConnectEncode(buf)
	case packets.Subscribe:
		return pk.SubscribeEncode(buf)
	case packets.Unsubscribe:
		return pk.UnsubscribeEncode(buf)
	case packets.Pingreq:
		return pk.PingreqEncode(buf)
	case packets.Auth:
		return pk.AuthEncode(buf)
	}
	return fmt.Errorf("mqtt: cannot encode packet type %d", pk.FixedHeader.Type)
}

// reasonOf returns the MQTT reason code an error maps to, and whether it is one.
func reasonOf(err error) (packets.Code, bool) {
	var code packets.Code
	if errors.As(err, &code) {
		return code, true
	}
	return packets.Code{}, false
}
