package config

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"streamhub/internal/bridge"
)

// Bridge connects this server to another MQTT broker (internal/bridge,
// docs/BRIDGES.md). Zero values take the defaults named beside each key.
type Bridge struct {
	Name     string `koanf:"name"`     // letters, digits, - and _; names the bridge in logs, metrics and the admin API
	URL      string `koanf:"url"`      // mqtt://, mqtts://, ws:// or wss://HOST:PORT[/PATH]
	Version  string `koanf:"version"`  // "3.1.1" (the default) or "5"
	Clientid string `koanf:"clientid"` // default streamhub-NAME
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	CA       string `koanf:"ca"`   // CA of the remote's certificate; default the system's
	Cert     string `koanf:"cert"` // client certificate, with key
	Key      string `koanf:"key"`
	// Keepalive: default 60s. Cleanstart drops the remote session on each
	// connection (default false: the remote keeps subscriptions and queues
	// for the bridge while it is away; MQTT 5 for sessionexpiry, default 24h).
	Keepalive     time.Duration `koanf:"keepalive"`
	Cleanstart    bool          `koanf:"cleanstart"`
	Sessionexpiry time.Duration `koanf:"sessionexpiry"`
	In            []BridgeTopic `koanf:"in"`  // remote → local
	Out           []BridgeTopic `koanf:"out"` // local → remote
	// Inflight outgoing QoS 1/2 messages awaiting acknowledgement (default
	// 64); outgoing messages held in memory while the remote is away
	// (default 10000 and 64 MiB; beyond, the oldest are dropped) unless
	// every out topic is durable, when they wait in the store.
	Inflight   int `koanf:"inflight"`
	Queue      int `koanf:"queue"`
	Queuebytes int `koanf:"queuebytes"`
	// Backoff is the longest wait between connection attempts (default
	// 30s; the first is 1s, doubled after each failure, with jitter).
	Backoff time.Duration `koanf:"backoff"`
}

// BridgeTopic maps a remote filter onto a local one (the same filter, two
// filters ending in # whose prefixes swap, or two topic names), at a QoS
// on the remote side.
type BridgeTopic struct {
	Remote string `koanf:"remote"`
	Local  string `koanf:"local"` // default: the same as remote
	QoS    int    `koanf:"qos"`
}

var bridgeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validateBridges reports each broken key of each bridge, keyed
// bridges[I].KEY.
func (c Config) validateBridges() []error {
	var errs []error
	seen := map[string]bool{}
	for i, b := range c.Bridges {
		bad := func(key, format string, args ...any) {
			k := fmt.Sprintf("bridges[%d].%s", i, key)
			errs = append(errs, invalid(k, "%s: %s", k, fmt.Sprintf(format, args...)))
		}
		switch {
		case !bridgeName.MatchString(b.Name):
			bad("name", "%q: want 1-64 letters, digits, - or _", b.Name)
		case seen[b.Name]:
			bad("name", "%q names two bridges", b.Name)
		}
		seen[b.Name] = true
		if u, err := url.Parse(b.URL); err != nil || u.Host == "" {
			bad("url", "%q: want mqtt://, mqtts://, ws:// or wss://HOST:PORT", b.URL)
		} else if u.Scheme != "mqtt" && u.Scheme != "mqtts" && u.Scheme != "ws" && u.Scheme != "wss" {
			bad("url", "scheme %q: want mqtt, mqtts, ws or wss", u.Scheme)
		}
		if _, err := BridgeVersion(b.Version); err != nil {
			bad("version", "%v", err)
		}
		if (b.Cert == "") != (b.Key == "") {
			bad("cert", "cert and key must be set together")
		}
		for _, kv := range []struct {
			key   string
			value int64
		}{{"keepalive", int64(b.Keepalive)}, {"sessionexpiry", int64(b.Sessionexpiry)}, {"inflight", int64(b.Inflight)},
			{"queue", int64(b.Queue)}, {"queuebytes", int64(b.Queuebytes)}, {"backoff", int64(b.Backoff)}} {
			if kv.value < 0 {
				bad(kv.key, "must not be negative")
			}
		}
		if b.Keepalive > 65535*time.Second {
			bad("keepalive", "at most 65535s")
		}
		if len(b.In) == 0 && len(b.Out) == 0 {
			bad("in", "a bridge needs topics in or out")
		}
		for _, d := range []struct {
			dir    string
			topics []BridgeTopic
		}{{"in", b.In}, {"out", b.Out}} {
			dir := d.dir
			for j, t := range d.topics {
				if _, err := bridge.ParseMapping(t.Remote, t.Local); err != nil {
					bad(fmt.Sprintf("%s[%d]", dir, j), "%v", err)
				}
				if t.QoS < 0 || t.QoS > 2 {
					bad(fmt.Sprintf("%s[%d].qos", dir, j), "%d: want 0, 1 or 2", t.QoS)
				}
			}
		}
	}
	return errs
}

// BridgeVersion is the protocol level of a bridge's version key: 4 for
// MQTT 3.1.1 (the default), 5 for MQTT 5.
func BridgeVersion(v string) (int, error) {
	switch v {
	case "", "3.1.1", "4":
		return 4, nil
	case "5", "5.0":
		return 5, nil
	}
	return 0, fmt.Errorf("%q: want 3.1.1 or 5", v)
}
