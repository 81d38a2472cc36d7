package mqtt

import (
	"bufio"
	"net"

	"github.com/mochi-mqtt/server/v2/packets"
)

// refuseOverLimits answers a connection the admission refused
// (limits.connections, limits.peraddress) as MQTT refuses a CONNECT:
// CONNACK 0x97 Quota exceeded with the reason (3.1.1: 0x03 Server
// unavailable). The admission bounds the time it takes and closes nc.
func (s *Server) refuseOverLimits(nc net.Conn, err error) {
	pk, rerr := readPacket(bufio.NewReaderSize(nc, 512), 0, min(s.cfg.MaxPacket, s.cfg.ConnectMax), s.cfg.Partial)
	if rerr != nil || pk.FixedHeader.Type != packets.Connect {
		return
	}
	c := &conn{srv: s, nc: nc, version: pk.ProtocolVersion}
	c.refuse(pk, packets.Code{Code: packets.ErrQuotaExceeded.Code, Reason: err.Error()})
}
