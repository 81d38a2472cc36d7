package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// invalidKeys lists the keys of the problems err reports.
func invalidKeys(t *testing.T, err error) []string {
	t.Helper()
	var keys []string
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var ke *KeyError
		if !errors.As(e, &ke) {
			t.Errorf("an error without its key: %v", e)
			continue
		}
		if !strings.Contains(ke.Error(), ke.Key) {
			t.Errorf("the message of %s does not name it: %v", ke.Key, ke)
		}
		keys = append(keys, ke.Key)
	}
	return keys
}

// TestValidateNamesEachKey: each broken key gives an error of its own,
// carrying that key (a KeyError), and no other.
func TestValidateNamesEachKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key     string
		breakIt func(*Config)
	}{
		{"http.addr", func(c *Config) { c.HTTP.Addr = "nope" }},
		{"http.key", func(c *Config) { c.HTTP.Cert = "cert.pem" }},
		{"http.cert", func(c *Config) { c.HTTP.Key = "key.pem" }},
		{"http.idletimeout", func(c *Config) { c.HTTP.Idletimeout = -1 }},
		{"http.readtimeout", func(c *Config) { c.HTTP.Readtimeout = -1 }},
		{"tcp.tls", func(c *Config) { c.TCP.TLS = true }},
		{"mqtt.key", func(c *Config) { c.MQTT.Cert = "cert.pem" }},
		{"mqtt.cert", func(c *Config) { c.MQTT.Key = "key.pem" }},
		{"rtmp.key", func(c *Config) { c.RTMP.Cert = "cert.pem" }},
		{"rtsp.cert", func(c *Config) { c.RTSP.Key = "key.pem" }},
		{"rtmp.tlsaddr", func(c *Config) { c.RTMP.Tlsaddr = "127.0.0.1:1936" }}, // no certificate, not even http's
		{"rtsp.tlsaddr", func(c *Config) { c.RTSP.Tlsaddr = "127.0.0.1:8555" }},
		{"rtsp.tlsaddr", func(c *Config) { c.RTSP.Tlsaddr, c.RTSP.Cert, c.RTSP.Key = "nope", "c.pem", "k.pem" }},
		{"mqtt.receivemax", func(c *Config) { c.MQTT.Receivemax = 0 }},
		{"mqtt.receivemax", func(c *Config) { c.MQTT.Receivemax = 65536 }},
		{"mqtt.aliasmax", func(c *Config) { c.MQTT.Aliasmax = -1 }},
		{"mqtt.aliasmax", func(c *Config) { c.MQTT.Aliasmax = 65536 }},
		{"mqtt.inflight", func(c *Config) { c.MQTT.Inflight = 0 }},
		{"mqtt.queue", func(c *Config) { c.MQTT.Queue = 0 }},
		{"mqtt.sessionexpiry", func(c *Config) { c.MQTT.Sessionexpiry = 0 }},
		{"mqtt.foreignclientid", func(c *Config) { c.MQTT.ForeignClientID = "share" }},
		{"durable.sync", func(c *Config) { c.Durable.Sync = "never" }},
		{"data", func(c *Config) { c.Data = ""; c.Durable.Streams = []DurableStream{{Filter: "a/#"}} }},
		{"durable.streams", func(c *Config) { c.Durable.Streams = []DurableStream{{Filter: "a/#/b"}} }},
		{"data", func(c *Config) { c.Data = ""; c.Media.Record = []MediaRecord{{Filter: "live/#"}} }},
		{"media.record", func(c *Config) { c.Media.Record = []MediaRecord{{Filter: "live/#/x"}} }},
		{"media.record", func(c *Config) { c.Media.Record = []MediaRecord{{Filter: "live/#", Bytes: -1}} }},
		{"tcp.networks", func(c *Config) { c.TCP.Networks = []string{"10.0.0.0"} }},
		{"auth.http.url", func(c *Config) { c.Auth.HTTP.URL = "ftp://auth.example" }},
		{"auth.http.timeout", func(c *Config) { c.Auth.HTTP.URL, c.Auth.HTTP.Timeout = "http://auth.example", 0 }},
		{"auth.http.cache", func(c *Config) { c.Auth.HTTP.URL, c.Auth.HTTP.Denycache = "http://auth.example", -1 }},
		{"auth.http.fail", func(c *Config) { c.Auth.HTTP.URL, c.Auth.HTTP.Fail = "http://auth.example", "ajar" }},
		{"auth.http.headers", func(c *Config) { c.Auth.HTTP.URL, c.Auth.HTTP.Headers = "http://auth.example", []string{"X-Key"} }},
		{"webhooks", func(c *Config) { c.Webhooks = []Webhook{{Name: "a b", URL: "ftp://x", Events: []string{"connect"}}} }},
		{"webhooks", func(c *Config) { c.Webhooks = []Webhook{{Name: "p", URL: "http://x", Events: []string{"publish"}}} }},
		{"webhooks", func(c *Config) {
			c.Webhooks = []Webhook{{Name: "d", URL: "http://x", Events: []string{"connect"}}, {Name: "d", URL: "http://y", Events: []string{"connect"}}}
		}},
		{"limits.payload", func(c *Config) { c.Limits.Payload = 0 }},
		{"turn.addr", func(c *Config) { c.TURN.Addr = "3478" }},
		{"turn.addr", func(c *Config) { c.TURN.Addr, c.TURN.Relay = "203.0.113.7:3478", "10.0.0.1" }},
		{"turn.addr", func(c *Config) { c.TURN.Addr, c.TURN.Relay = ":3478", "10.0.0.1" }},
		{"turn.addr", func(c *Config) { c.TURN.Addr, c.TURN.Relay = "0.0.0.0:3478", "10.0.0.1" }},
		{"turn.relay", func(c *Config) { c.TURN.Addr, c.TURN.Public = "0.0.0.0:3478", true }},
		{"turn.relay", func(c *Config) { c.TURN.Addr, c.TURN.Relay = "10.0.0.1:3478", "203.0.113.7" }},
		{"turn.relaybind", func(c *Config) { c.TURN.Addr, c.TURN.Relaybind = "127.0.0.1:3478", "here" }},
		{"turn.minport", func(c *Config) { c.TURN.Addr, c.TURN.Minport = "127.0.0.1:3478", 0 }},
		{"turn.ttl", func(c *Config) { c.TURN.Addr, c.TURN.TTL = "127.0.0.1:3478", time.Second }},
		{"turn.realm", func(c *Config) { c.TURN.Addr, c.TURN.Realm = "127.0.0.1:3478", "" }},
		{"limits.turnallocations", func(c *Config) { c.TURN.Addr, c.Limits.Turnallocations = "127.0.0.1:3478", -1 }},
		{"queue.messages", func(c *Config) { c.Queue.Messages = 0 }},
		{"queue.bytes", func(c *Config) { c.Queue.Bytes = 0 }},
		{"queue.total", func(c *Config) { c.Queue.Total = -1 }},
		{"history.messages", func(c *Config) { c.History.Messages = -1 }},
		{"history.bytes", func(c *Config) { c.History.Bytes = -1 }},
		{"sse.policy", func(c *Config) { c.SSE.Policy = "maybe" }},
		{"ndjson.policy", func(c *Config) { c.NDJSON.Policy = "maybe" }},
		{"ws.policy", func(c *Config) { c.WS.Policy = "maybe" }},
		{"tcp.policy", func(c *Config) { c.TCP.Policy = "maybe" }},
		{"tcp.textpolicy", func(c *Config) { c.TCP.Textpolicy = "maybe" }},
		{"log.format", func(c *Config) { c.Log.Format = "xml" }},
		{"poll.maxtimeout", func(c *Config) { c.Poll.Maxtimeout = c.Poll.Timeout / 2 }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "stream", Kind: RouteWS, Topic: "a"}} }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "/v1/ws/a", Kind: RouteWS, Topic: "a"}} }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "/s", Kind: "mqtt", Topic: "a"}} }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "/s", Kind: RouteWS, Topic: "a/#/b"}} }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "/s", Kind: RoutePublish, Topic: "a/#"}} }},
		{"routes", func(c *Config) { c.Routes = []Route{{Path: "/s.m3u8", Kind: RouteHLS, Media: "../x"}} }},
	} {
		c := Defaults()
		c.Data = t.TempDir()
		tc.breakIt(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: broken, and accepted", tc.key)
			continue
		}
		if keys := invalidKeys(t, err); !slices.Equal(keys, []string{tc.key}) {
			t.Errorf("%s: the error names %q (%v)", tc.key, keys, err)
		}
	}
}

// TestValidateReportsEveryKey: several broken keys give one error each.
func TestValidateReportsEveryKey(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.HTTP.Addr, c.SSE.Policy, c.MQTT.Inflight = "nope", "maybe", 0
	keys := invalidKeys(t, c.Validate())
	slices.Sort(keys)
	if want := []string{"http.addr", "mqtt.inflight", "sse.policy"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
}

// TestTURNPublicNeedsOptIn: a relay for the internet is accepted once
// turn.public says so; loopback and private ones need nothing.
func TestTURNPublicNeedsOptIn(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ addr, relay string }{{"127.0.0.1:3478", ""}, {"10.0.0.1:3478", ""}, {"192.168.1.5:3478", "192.168.1.5"}} {
		c := Defaults()
		c.TURN.Addr, c.TURN.Relay = tc.addr, tc.relay
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	c := Defaults()
	c.TURN.Addr, c.TURN.Relay, c.TURN.Public = "0.0.0.0:3478", "203.0.113.7", true
	if err := c.Validate(); err != nil {
		t.Errorf("public relay with turn.public: %v", err)
	}
}
