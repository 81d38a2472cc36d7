package mqtt

// Brokers' bridges (Mosquitto's try_private, EMQX's bridge mode) connect
// with MQTT 3.1 or 3.1.1 and the top bit of the protocol level set: 0x83,
// 0x84. Such a connection is a plain 3.1/3.1.1 client, except that, as
// Mosquitto does for it, every subscription it makes is no-local and
// retain-as-published: what the bridge forwards to us is not sent back to
// it (which would loop between the brokers), and a retained message keeps
// its flag on the other side. MQTT 5 has no such level: a v5 bridge asks
// for these options itself.

// bridgeFlag is the top bit of the protocol level a bridge sets.
const bridgeFlag = 0x80

// bridgeLevel splits a CONNECT's protocol level into the protocol version
// and whether a bridge connects; other levels are returned as they are,
// for the CONNECT's validation to refuse.
func bridgeLevel(level byte) (version byte, bridge bool) {
	if v := level &^ bridgeFlag; level&bridgeFlag != 0 && (v == 3 || v == 4) {
		return v, true
	}
	return level, false
}
