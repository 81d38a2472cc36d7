package config

import (
	"net"
	"time"
)

// TURN configures the built-in STUN/TURN server (docs/PROTOCOLS.md,
// WebRTC peer to peer) and GET /v1/turn, which mints its credentials.
type TURN struct {
	// Addr is host:port over UDP (and TCP with TCP set); empty: off.
	Addr string `koanf:"addr"`
	TCP  bool   `koanf:"tcp"`
	// Relay is the IP announced for relayed addresses and in the URIs;
	// empty: Addr's host. Relaybind is what relay sockets bind to (behind
	// a 1:1 NAT, the local address); empty: Relay.
	Relay     string `koanf:"relay"`
	Relaybind string `koanf:"relaybind"`
	Minport   int    `koanf:"minport"`
	Maxport   int    `koanf:"maxport"`
	Realm     string `koanf:"realm"`
	// Secret signs credentials (nodes sharing it accept each other's);
	// empty: a random one each start.
	Secret string        `koanf:"secret"`
	TTL    time.Duration `koanf:"ttl"`
	// Public must be true to serve or relay on an address that is not
	// loopback or private: an open relay on the internet is a liability.
	Public bool `koanf:"public"`
}

func defaultTURN() TURN {
	return TURN{TCP: true, Minport: 49152, Maxport: 65535, Realm: "streamhub", TTL: time.Hour}
}

// RelayIP is the relay address Validate accepted: Relay, else Addr's host.
func (t TURN) RelayIP() net.IP {
	if t.Relay != "" {
		return net.ParseIP(t.Relay)
	}
	host, _, _ := net.SplitHostPort(t.Addr)
	return net.ParseIP(host)
}

func (c Config) validateTURN() []error {
	t := c.TURN
	if t.Addr == "" {
		return nil
	}
	var errs []error
	host, _, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return []error{invalid("turn.addr", "turn.addr %q: %w", t.Addr, err)}
	}
	relay := t.RelayIP()
	switch {
	case t.Relay != "" && relay == nil:
		errs = append(errs, invalid("turn.relay", "turn.relay: %q is not an IP address", t.Relay))
	case relay == nil || relay.IsUnspecified():
		errs = append(errs, invalid("turn.relay", "turn.relay: required when turn.addr does not name one IP address"))
	}
	if t.Relaybind != "" && net.ParseIP(t.Relaybind) == nil {
		errs = append(errs, invalid("turn.relaybind", "turn.relaybind: %q is not an IP address", t.Relaybind))
	}
	if !t.Public {
		for _, a := range []struct {
			key string
			ip  net.IP
		}{{"turn.addr", net.ParseIP(host)}, {"turn.relay", relay}} {
			if a.ip != nil && !a.ip.IsUnspecified() && !a.ip.IsLoopback() && !a.ip.IsPrivate() && !a.ip.IsLinkLocalUnicast() {
				errs = append(errs, invalid(a.key, "%s: %s is not a loopback or private address; set turn.public: true to relay for the internet", a.key, a.ip))
			}
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			errs = append(errs, invalid("turn.addr", "turn.addr: listening on every address includes public ones; set turn.public: true to relay for the internet"))
		}
	}
	if t.Minport < 1 || t.Maxport > 65535 || t.Minport > t.Maxport {
		errs = append(errs, invalid("turn.minport", "turn.minport and turn.maxport: %d-%d is not a port range", t.Minport, t.Maxport))
	}
	if t.TTL < time.Minute {
		errs = append(errs, invalid("turn.ttl", "turn.ttl: at least 1m"))
	}
	if t.Realm == "" {
		errs = append(errs, invalid("turn.realm", "turn.realm: required"))
	}
	if c.Limits.Turnallocations < 0 {
		errs = append(errs, invalid("limits.turnallocations", "limits.turnallocations may not be negative"))
	}
	return errs
}
