// Package config is streamhub's one configuration tree: Defaults, then an
// optional YAML file, then STREAMHUB_* environment variables, then flags.
// Every key is single words per level, so STREAMHUB_HISTORY_MESSAGES is
// history.messages.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"

	"streamhub/internal/auth"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/topic"
)

// Config is the whole server configuration.
type Config struct {
	HTTP     HTTP          `koanf:"http"`
	Data     string        `koanf:"data"`
	Log      Log           `koanf:"log"`
	History  History       `koanf:"history"`
	Limits   Limits        `koanf:"limits"`
	Queue    Queue         `koanf:"queue"`
	Retained Retained      `koanf:"retained"`
	SSE      Delivery      `koanf:"sse"`
	NDJSON   Delivery      `koanf:"ndjson"`
	WS       Delivery      `koanf:"ws"`
	Poll     Poll          `koanf:"poll"`
	Auth     Auth          `koanf:"auth"`
	Durable  Durable       `koanf:"durable"`
	MQTT     MQTT          `koanf:"mqtt"`
	TCP      TCP           `koanf:"tcp"`
	CORS     CORS          `koanf:"cors"`
	Media    Media         `koanf:"media"`
	RTMP     RTMP          `koanf:"rtmp"`
	RTSP     RTSP          `koanf:"rtsp"`
	HLS      HLS           `koanf:"hls"`
	WebRTC   WebRTC        `koanf:"webrtc"`
	TURN     TURN          `koanf:"turn"` // the built-in STUN/TURN server (turn.go)
	Shutdown time.Duration `koanf:"shutdown"`
	Admin    Admin         `koanf:"admin"`
	Cluster  Cluster       `koanf:"cluster"`
	Routes   []Route       `koanf:"routes"` // fixed URLs onto topics and media paths (routes.go)
	// Webhooks POST events to URLs (webhooks.go).
	Webhooks []Webhook `koanf:"webhooks"`
	Bridges  []Bridge  `koanf:"bridges"` // to other MQTT brokers (bridges.go)
}

// Cluster joins this node to others through NATS JetStream
// (docs/CLUSTER.md); without URLs the node is alone.
type Cluster struct {
	URLs     []string `koanf:"urls"`     // NATS servers, e.g. nats://10.0.0.1:4222
	Node     string   `koanf:"node"`     // this node's name, required with urls
	Replicas int      `koanf:"replicas"` // of each JetStream stream; 0: 3 on a NATS cluster of 3 or more servers, else 1
	Prefix   string   `koanf:"prefix"`   // of subjects and stream names
	Creds    string   `koanf:"creds"`    // NATS credentials file
	CA       string   `koanf:"ca"`       // CA of the NATS servers' TLS certificates
}

// Admin is the dashboard at / and the admin API under /v1/admin/.
type Admin struct {
	// Public serves them with auth off on a listener that is not loopback
	// (to anyone who can reach it); with auth on they need the admin role.
	Public bool `koanf:"public"`
	// Stats is how often the core publishes $SYS/streamhub/stats (0: never).
	Stats time.Duration `koanf:"stats"`
	// Hosts are the names the admin API and dashboard answer to besides IP
	// addresses, localhost and http.addr's host (a name a proxy passes on;
	// "*" for any): other Host headers are refused (DNS rebinding).
	Hosts []string `koanf:"hosts"`
}

// Auth is the one security policy for every protocol (see docs/SECURITY.md).
type Auth struct {
	// Required refuses connections without valid credentials. With it off
	// and no rules, everything is open (the localhost default).
	Required bool   `koanf:"required"`
	Users    string `koanf:"users"` // file of name:bcrypt-hash[:roles] lines
	// Clientca, when set, lets TLS clients present certificates signed by
	// this CA; a verified certificate's common name is the user.
	Clientca string `koanf:"clientca"`
	JWT      JWT    `koanf:"jwt"`
	ACL      []ACL  `koanf:"acl"`
	// Failures is how many wrong passwords one client address may send in
	// a row, on any protocol; then its password checks are refused
	// unchecked (no bcrypt work), one more allowed every Failureinterval.
	// 0: no limit.
	Failures        int           `koanf:"failures"`
	Failureinterval time.Duration `koanf:"failureinterval"`
	// HTTP asks an HTTP service about the logins the users file and the
	// JWT keys do not decide (docs/SECURITY.md, "Login over HTTP").
	HTTP AuthHTTP `koanf:"http"`
}

// AuthHTTP is the login service: each login's credentials are POSTed to
// URL as JSON, and the answer says allow or deny, with roles and filters.
type AuthHTTP struct {
	URL     string        `koanf:"url"`     // empty: no service
	Timeout time.Duration `koanf:"timeout"` // for one call, connection included
	// Cache and Denycache are how long an allow and a deny answer are
	// reused for the same credentials (0: asked every time); Cachesize
	// bounds how many answers are kept.
	Cache     time.Duration `koanf:"cache"`
	Denycache time.Duration `koanf:"denycache"`
	Cachesize int           `koanf:"cachesize"`
	// Fail is what a login gets when the service is down, slow or answers
	// nonsense: "closed" refuses it (MQTT 0x88, HTTP 503); "open" lets it
	// in as anonymous (the name it sent is unproven).
	Fail    string   `koanf:"fail"`
	Headers []string `koanf:"headers"` // "Name: value" lines sent with every call
	Bearer  string   `koanf:"bearer"`  // sent as Authorization: Bearer
	CA      string   `koanf:"ca"`      // PEM CA file for an https URL's certificate
}

// JWT lists the keys tokens may be signed with.
type JWT struct {
	Secret string `koanf:"secret"` // HS256
	Rsakey string `koanf:"rsakey"` // RS256 public key (PEM file)
	Eckey  string `koanf:"eckey"`  // ES256 public key (PEM file)
	Jwks   string `koanf:"jwks"`   // JSON Web Key Set file
}

// ACL is one rule: who it applies to, and the filters it allows and denies
// (%u: user name, %c: client id). Deny wins.
type ACL struct {
	Who           string   `koanf:"who"` // user, "role:NAME", "*", "anonymous" or "all"
	Publish       []string `koanf:"publish"`
	Subscribe     []string `koanf:"subscribe"`
	Denypublish   []string `koanf:"denypublish"`
	Denysubscribe []string `koanf:"denysubscribe"`
}

// Policy builds the security policy (nil when everything is open); obs is
// told how the auth.http service answers.
func (c Config) Policy(obs auth.Observer) (*auth.Policy, error) {
	h := c.Auth.HTTP
	cfg := auth.Config{Required: c.Auth.Required, Users: c.Auth.Users, Failures: c.Auth.Failures, FailureInterval: c.Auth.Failureinterval,
		JWT: auth.JWTConfig{Secret: c.Auth.JWT.Secret, RSAKey: c.Auth.JWT.Rsakey, ECKey: c.Auth.JWT.Eckey, JWKS: c.Auth.JWT.Jwks},
		HTTP: auth.HTTPConfig{URL: h.URL, Timeout: h.Timeout, Cache: h.Cache, DenyCache: h.Denycache, CacheSize: h.Cachesize,
			FailOpen: h.Fail == "open", Headers: h.Headers, Bearer: h.Bearer, CA: h.CA},
		Observer: obs}
	for _, a := range c.Auth.ACL {
		cfg.Rules = append(cfg.Rules, auth.Rule{Who: a.Who, Publish: a.Publish, Subscribe: a.Subscribe,
			DenyPublish: a.Denypublish, DenySubscribe: a.Denysubscribe})
	}
	return auth.New(cfg)
}

// Durable declares durable streams: topics whose messages are stored in
// the data directory and replayed after reconnects and restarts.
type Durable struct {
	// Sync is "always" (a publish is acknowledged after fsync; concurrent
	// publishes share one) or "interval" (acknowledged once written, synced
	// every Interval: faster, and a crash may lose the last Interval).
	Sync     string        `koanf:"sync"`
	Interval time.Duration `koanf:"interval"`
	// Default retention of streams that set none (and of --durable filters).
	Messages int             `koanf:"messages"`
	Bytes    int64           `koanf:"bytes"`
	Age      time.Duration   `koanf:"age"`
	Streams  []DurableStream `koanf:"streams"`
}

// DurableStream is one durable topic filter and its retention (zero: the default).
type DurableStream struct {
	Filter   string        `koanf:"filter"`
	Messages int           `koanf:"messages"`
	Bytes    int64         `koanf:"bytes"`
	Age      time.Duration `koanf:"age"`
}

// MQTT configures the MQTT broker (3.1.1 and 5.0). MQTT over WebSocket is
// served on the HTTP listener at /mqtt.
type MQTT struct {
	Addr    string `koanf:"addr"`    // TCP; empty disables
	Tlsaddr string `koanf:"tlsaddr"` // TLS, used when cert and key are set
	Cert    string `koanf:"cert"`
	Key     string `koanf:"key"`
	// Inflight is how many QoS 1/2 messages go to a client before it must
	// acknowledge some (lowered to the client's receive maximum).
	Inflight int `koanf:"inflight"`
	// Receivemax is how many QoS 2 publishes a client may have unreleased,
	// and how many QoS 1/2 publishes of a connection may wait for the store
	// (sharing its commits) before the connection stops reading.
	Receivemax int `koanf:"receivemax"`
	Aliasmax   int `koanf:"aliasmax"` // topic aliases a v5 client may set
	// Sessionexpiry caps how long a disconnected persistent session lives;
	// 3.1.1 sessions with clean session off get exactly this.
	Sessionexpiry time.Duration `koanf:"sessionexpiry"`
	// Queue and Queuebytes bound each session's queue, online or offline:
	// when full the oldest message is dropped and counted, and a connected
	// client is disconnected as a slow consumer (v5: reason 0x97). The
	// byte budget is what bites for small messages, as NATS's 64 MiB of
	// pending bytes does: a healthy client's burst is never thinned.
	Queue      int           `koanf:"queue"`
	Queuebytes int           `koanf:"queuebytes"`
	Sys        time.Duration `koanf:"sys"` // $SYS publish interval; 0 disables
	// Keepalive caps the keep-alive clients may ask for (0: no cap).
	Keepalive time.Duration `koanf:"keepalive"`
	// Connectmax is the largest CONNECT accepted (bytes), before login.
	Connectmax int `koanf:"connectmax"`
	// Packettimeout is how long a begun packet may take to arrive, even
	// with keep-alive 0.
	Packettimeout time.Duration `koanf:"packettimeout"`
	// Writetimeout bounds each write to a client, so a stuck one cannot
	// hold its writer forever.
	Writetimeout time.Duration `koanf:"writetimeout"`
	// ForeignClientID is what a client gets whose client id names another
	// identity's session: "separate" (a session of its own) or "refuse".
	ForeignClientID string `koanf:"foreignclientid"`
}

// TCP configures raw TCP: the text protocol listener and the raw ports,
// each "ADDR=TOPIC[?framing=lines|length|raw&max=BYTES]" (output ports take
// comma-separated filters).
type TCP struct {
	Addr    string   `koanf:"addr"`    // text protocol; empty for none
	In      []string `koanf:"in"`      // listen; input becomes messages
	Out     []string `koanf:"out"`     // listen; messages are written out
	Indial  []string `koanf:"indial"`  // dial a listening sender
	Outdial []string `koanf:"outdial"` // dial a listening receiver
	// Policy of raw output connections' full queues; Textpolicy of text
	// protocol connections'.
	Policy     string `koanf:"policy"`
	Textpolicy string `koanf:"textpolicy"`
	// Dialqueue is how many messages wait for an -out-dial peer that is away.
	Dialqueue int `koanf:"dialqueue"`
	// TLS serves the text protocol and the listening raw ports over TLS,
	// with http.cert and http.key (and auth.clientca for client certificates).
	TLS bool `koanf:"tls"`
	// Networks limits the client addresses (CIDR) every listening TCP port
	// accepts; empty accepts any.
	Networks []string `koanf:"networks"`
	// Backoff caps the delay between attempts to reach a dialled peer.
	Backoff time.Duration `koanf:"backoff"`
	Timeout time.Duration `koanf:"timeout"` // per write
}

// HTTP is the HTTP listener: every HTTP transport, health and metrics.
type HTTP struct {
	Addr string `koanf:"addr"`
	// Cert and Key, when both set, serve HTTPS with HTTP/2 (h2); otherwise
	// the listener speaks HTTP/1.1 and cleartext HTTP/2 (h2c).
	Cert string `koanf:"cert"`
	Key  string `koanf:"key"`
	// Pprof serves Go's profiler at /debug/pprof/ (for benchmarking; keep
	// it off where the HTTP listener is reachable by others).
	Pprof bool `koanf:"pprof"`
	// Idletimeout closes a keep-alive connection that sends no request for
	// this long; zero keeps idle connections forever.
	Idletimeout time.Duration `koanf:"idletimeout"`
	// Readtimeout bounds reading a request, body included (408 after it);
	// streaming responses are not bound by it. Zero means no bound.
	Readtimeout time.Duration `koanf:"readtimeout"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `koanf:"level"`
	Format string `koanf:"format"` // text or json
}

// History sizes the in-memory resume windows: Messages and Age per topic
// family (first level), Bytes for all of them together.
type History struct {
	Messages int           `koanf:"messages"`
	Bytes    int           `koanf:"bytes"`
	Age      time.Duration `koanf:"age"`
}

// Limits bound what clients may do, alike on every protocol; zero means
// no limit.
type Limits struct {
	Payload       int     `koanf:"payload"`       // bytes per message
	Connections   int     `koanf:"connections"`   // open streaming connections in total
	Peraddress    int     `koanf:"peraddress"`    // ... from one client address
	Subscriptions int     `koanf:"subscriptions"` // filters per connection
	Rate          float64 `koanf:"rate"`          // publishes per second per connection (burst as many)
	Partialbytes  int64   `koanf:"partialbytes"`  // bytes of packets still arriving, all connections together
	// Turnallocations bounds the TURN relays one identity holds at once.
	Turnallocations int `koanf:"turnallocations"`
}

// Retained bounds the retained messages kept (the topic's bytes and the
// payload's), all together and those one authenticated user published;
// past a bound a retained message on a new topic is refused, while
// replacing and clearing still work. 0: no bound.
type Retained struct {
	Messages     int   `koanf:"messages"`
	Bytes        int64 `koanf:"bytes"`
	Usermessages int   `koanf:"usermessages"`
	Userbytes    int64 `koanf:"userbytes"`
}

// Queue bounds each subscriber's queue of undelivered messages, and all
// of them together.
type Queue struct {
	Messages int `koanf:"messages"`
	Bytes    int `koanf:"bytes"`
	// Total bounds the bytes all subscriber queues (every transport, MQTT
	// sessions online and offline) hold together; past it, the queues
	// holding more than their share give way first. 0: no bound.
	Total int64 `koanf:"total"`
}

// Delivery configures how one subscribing transport (SSE, NDJSON,
// WebSocket) delivers: what a full queue does, the heartbeat, the write
// timeout.
type Delivery struct {
	// Policy is the overflow policy of a full queue: disconnect (the client resumes from its
	// cursor) or drop-oldest (counted in streamhub_messages_dropped_total).
	Policy    string        `koanf:"policy"`
	Heartbeat time.Duration `koanf:"heartbeat"`
	Timeout   time.Duration `koanf:"timeout"` // per write
}

// Poll configures long polling.
type Poll struct {
	Timeout    time.Duration `koanf:"timeout"`
	Maxtimeout time.Duration `koanf:"maxtimeout"`
	Limit      int           `koanf:"limit"`
}

// CORS lists the origins browsers may use across sites ("*" for any); the
// same list is checked against WebSocket Origin headers.
type CORS struct {
	Origins []string `koanf:"origins"`
}

// Defaults returns the configuration used when nothing is set: localhost
// only, in memory, no external service.
func Defaults() Config {
	h := hub.Defaults()
	delivery := Delivery{Policy: "disconnect", Heartbeat: 15 * time.Second, Timeout: 10 * time.Second}
	mediaCfg, rtmpCfg, rtspCfg, hlsCfg := defaultMedia()
	return Config{
		Media:    mediaCfg,
		RTMP:     rtmpCfg,
		RTSP:     rtspCfg,
		HLS:      hlsCfg,
		WebRTC:   defaultWebRTC(),
		TURN:     defaultTURN(),
		HTTP:     HTTP{Addr: "127.0.0.1:8080", Idletimeout: 60 * time.Second, Readtimeout: 30 * time.Second},
		Log:      Log{Level: "info", Format: "text"},
		History:  History{Messages: h.HistoryMessages, Bytes: h.HistoryBytes, Age: h.HistoryAge},
		Limits:   Limits{Payload: h.MaxPayload, Partialbytes: 256 << 20, Turnallocations: 10},
		Queue:    Queue{Messages: 4096, Bytes: 32 << 20, Total: 1 << 30},
		Retained: Retained{Messages: 1_000_000, Bytes: 256 << 20, Usermessages: 100_000, Userbytes: 64 << 20},
		SSE:      delivery,
		NDJSON:   delivery,
		WS:       delivery,
		Poll:     Poll{Timeout: 30 * time.Second, Maxtimeout: 2 * time.Minute, Limit: 1000},
		Durable:  Durable{Sync: "always", Interval: time.Second, Messages: 1_000_000, Bytes: 1 << 30, Age: 7 * 24 * time.Hour},
		MQTT: MQTT{Addr: "127.0.0.1:1883", Tlsaddr: "127.0.0.1:8883", Inflight: 64, Receivemax: 1024, Aliasmax: 1024,
			Sessionexpiry: 24 * time.Hour, Queue: 1_000_000, Queuebytes: 64 << 20, Sys: 10 * time.Second,
			Connectmax: 64 << 10, Packettimeout: 30 * time.Second, Writetimeout: 10 * time.Second, ForeignClientID: "separate"},
		TCP: TCP{Policy: "drop-oldest", Textpolicy: "disconnect", Dialqueue: 1000,
			Backoff: 5 * time.Second, Timeout: 10 * time.Second},
		CORS:     CORS{Origins: []string{"*"}},
		Shutdown: 10 * time.Second,
		Admin:    Admin{Stats: time.Second},
		Auth: Auth{Failures: 10, Failureinterval: 6 * time.Second,
			HTTP: AuthHTTP{Timeout: 2 * time.Second, Cache: time.Minute, Denycache: 10 * time.Second, Cachesize: 10_000, Fail: "closed"}},
		Cluster: Cluster{Prefix: "streamhub"},
	}
}

// Load applies the YAML file at path (if not empty) and then the
// environment to Defaults.
func Load(path string, environ []string) (Config, error) {
	cfg := Defaults()
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return cfg, fmt.Errorf("config: load %s: %w", path, err)
		}
		if err := checkKeys(k.Raw(), unknownFileKey, fileKey); err != nil {
			return cfg, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	envProvider := env.Provider(".", env.Opt{
		Prefix:      "STREAMHUB_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(k, v string) (string, any) {
			key := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(k, "STREAMHUB_")), "_", ".")
			switch key {
			case "cors.origins", "cluster.urls":
				return key, strings.Split(v, ",")
			case "tcp.in", "tcp.out", "tcp.indial", "tcp.outdial":
				return key, strings.Fields(v) // specs use commas themselves
			case "durable.streams":
				var streams []map[string]any
				for _, f := range strings.Fields(v) {
					streams = append(streams, map[string]any{"filter": f})
				}
				return key, streams
			}
			return key, v
		},
	})
	fromEnv := koanf.New(".")
	if err := fromEnv.Load(envProvider, nil); err != nil {
		return cfg, fmt.Errorf("config: environment: %w", err)
	}
	// CLI-only variables are not configuration keys.
	fromEnv.Delete("config")
	fromEnv.Delete("server")
	if err := checkKeys(fromEnv.Raw(), unknownEnvKey, envKey); err != nil {
		return cfg, fmt.Errorf("config: environment: %w", err)
	}
	if err := k.Merge(fromEnv); err != nil {
		return cfg, fmt.Errorf("config: environment: %w", err)
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// KeyError is a problem with one configuration key. Validate reports each
// broken key as one, so that a caller (the server's startup message, a
// test) can tell which key is wrong; the message names the key too.
type KeyError struct {
	Key string // as in the YAML file: "mqtt.receivemax"
	Err error
}

func (e *KeyError) Error() string { return e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// invalid is the KeyError of key, its message formatted.
func invalid(key, format string, args ...any) error {
	return &KeyError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate reports every problem in c at once, a KeyError per broken key
// (the media keys, checked in media.go, are plain errors still).
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		errs = append(errs, invalid("http.addr", "http.addr %q: %w", c.HTTP.Addr, err))
	}
	errs = appendPair(errs, "http.cert", c.HTTP.Cert, "http.key", c.HTTP.Key)
	if c.HTTP.Idletimeout < 0 {
		errs = append(errs, invalid("http.idletimeout", "http.idletimeout must not be negative"))
	}
	if c.Auth.Failures < 0 || c.Auth.Failures > 0 && c.Auth.Failureinterval <= 0 {
		errs = append(errs, invalid("auth.failures", "auth.failures must not be negative, and needs a positive auth.failureinterval"))
	}
	errs = append(errs, c.Auth.HTTP.validate()...)
	if c.Retained.Messages < 0 || c.Retained.Bytes < 0 || c.Retained.Usermessages < 0 || c.Retained.Userbytes < 0 {
		errs = append(errs, invalid("retained.messages", "retained.messages, bytes, usermessages and userbytes must not be negative"))
	}
	if c.HTTP.Readtimeout < 0 {
		errs = append(errs, invalid("http.readtimeout", "http.readtimeout must not be negative"))
	}
	if c.TCP.TLS && c.HTTP.Cert == "" {
		errs = append(errs, invalid("tcp.tls", "tcp.tls needs http.cert and http.key"))
	}
	errs = appendPair(errs, "mqtt.cert", c.MQTT.Cert, "mqtt.key", c.MQTT.Key)
	errs = append(errs, c.validateMQTTLimits()...)
	if c.MQTT.ForeignClientID != "separate" && c.MQTT.ForeignClientID != "refuse" {
		errs = append(errs, invalid("mqtt.foreignclientid", "mqtt.foreignclientid %q: want separate or refuse", c.MQTT.ForeignClientID))
	}
	if c.Durable.Sync != "always" && c.Durable.Sync != "interval" {
		errs = append(errs, invalid("durable.sync", "durable.sync %q: want always or interval", c.Durable.Sync))
	}
	if len(c.Cluster.URLs) > 0 && (c.Cluster.Node == "" || c.Cluster.Replicas < 0 || c.Cluster.Prefix == "") {
		errs = append(errs, errors.New("cluster: urls need a node name (--node), replicas 0 (automatic) or more and a prefix"))
	}
	// On a cluster durable streams live in JetStream, not in the data directory.
	if len(c.Durable.Streams) > 0 && c.Data == "" && len(c.Cluster.URLs) == 0 {
		errs = append(errs, invalid("data", "durable streams need a data directory: set data (--data DIR)"))
	}
	for _, st := range c.Durable.Streams {
		if err := topic.ValidateFilter(st.Filter); err != nil {
			errs = append(errs, invalid("durable.streams", "durable.streams: %w", err))
		}
	}
	for _, n := range c.TCP.Networks {
		if _, _, err := net.ParseCIDR(n); err != nil {
			errs = append(errs, invalid("tcp.networks", "tcp.networks: %w", err))
		}
	}
	errs = append(errs, c.validateSizes()...)
	if c.Poll.Maxtimeout < c.Poll.Timeout {
		errs = append(errs, invalid("poll.maxtimeout", "poll.maxtimeout %s is below poll.timeout %s: a poll's ?timeout= could not even reach the default",
			c.Poll.Maxtimeout, c.Poll.Timeout))
	}
	// In the order of the file, so that the report reads the same each time.
	policies := []struct{ key, value string }{{"sse.policy", c.SSE.Policy}, {"ndjson.policy", c.NDJSON.Policy},
		{"ws.policy", c.WS.Policy}, {"tcp.policy", c.TCP.Policy}, {"tcp.textpolicy", c.TCP.Textpolicy}}
	for _, p := range policies {
		if _, err := hub.ParseOverflow(p.value); err != nil {
			errs = append(errs, invalid(p.key, "%s: %w", p.key, err))
		}
	}
	errs = append(errs, c.validateMedia()...)
	errs = append(errs, c.validateWebRTC()...)
	errs = append(errs, c.validateTURN()...)
	errs = append(errs, c.validateRoutes()...)
	errs = append(errs, c.validateWebhooks()...)
	errs = append(errs, c.validateBridges()...)

	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, invalid("log.format", "log.format %q: want text or json", c.Log.Format))
	}
	return errors.Join(errs...)
}

// appendPair reports a certificate set without its key, or the reverse:
// the error names the one missing.
func appendPair(errs []error, certKey, cert, keyKey, key string) []error {
	switch {
	case cert != "" && key == "":
		return append(errs, invalid(keyKey, "%s and %s must be set together: %s is missing", certKey, keyKey, keyKey))
	case cert == "" && key != "":
		return append(errs, invalid(certKey, "%s and %s must be set together: %s is missing", certKey, keyKey, certKey))
	}
	return errs
}

func (c Config) validateMQTTLimits() []error {
	var errs []error
	if c.MQTT.Receivemax < 1 || c.MQTT.Receivemax > 65535 {
		errs = append(errs, invalid("mqtt.receivemax", "mqtt.receivemax %d: want 1-65535", c.MQTT.Receivemax))
	}
	if c.MQTT.Aliasmax < 0 || c.MQTT.Aliasmax > 65535 {
		errs = append(errs, invalid("mqtt.aliasmax", "mqtt.aliasmax %d: want 0-65535", c.MQTT.Aliasmax))
	}
	return append(errs, positive(keyValue{"mqtt.inflight", int64(c.MQTT.Inflight)},
		keyValue{"mqtt.queue", int64(c.MQTT.Queue)}, keyValue{"mqtt.sessionexpiry", int64(c.MQTT.Sessionexpiry)})...)
}

// validateSizes checks the payload, queue and history bounds.
func (c Config) validateSizes() []error {
	errs := positive(keyValue{"limits.payload", int64(c.Limits.Payload)},
		keyValue{"queue.messages", int64(c.Queue.Messages)}, keyValue{"queue.bytes", int64(c.Queue.Bytes)})
	if c.Queue.Total < 0 {
		errs = append(errs, invalid("queue.total", "queue.total must not be negative (0: no bound)"))
	}
	for _, kv := range []keyValue{{"history.messages", int64(c.History.Messages)}, {"history.bytes", int64(c.History.Bytes)}} {
		if kv.value < 0 {
			errs = append(errs, invalid(kv.key, "%s must not be negative", kv.key))
		}
	}
	return errs
}

// keyValue is a numeric key and its value, for the range checks.
type keyValue struct {
	key   string
	value int64
}

// positive reports each key whose value is not positive.
func positive(kvs ...keyValue) []error {
	var errs []error
	for _, kv := range kvs {
		if kv.value <= 0 {
			errs = append(errs, invalid(kv.key, "%s must be positive", kv.key))
		}
	}
	return errs
}

// StoreStreams returns the durable streams with default retention filled in.
func (c Config) StoreStreams() []DurableStream {
	out := make([]DurableStream, 0, len(c.Durable.Streams))
	for _, st := range c.Durable.Streams {
		if st.Messages == 0 {
			st.Messages = c.Durable.Messages
		}
		if st.Bytes == 0 {
			st.Bytes = c.Durable.Bytes
		}
		if st.Age == 0 {
			st.Age = c.Durable.Age
		}
		out = append(out, st)
	}
	return out
}

// HubConfig derives the core's configuration.
func (c Config) HubConfig() hub.Config {
	return hub.Config{HistoryMessages: c.History.Messages, HistoryBytes: c.History.Bytes,
		HistoryAge: c.History.Age, MaxPayload: c.Limits.Payload, MaxFilters: c.Limits.Subscriptions,
		QueueTotal: c.Queue.Total, RetainedMessages: c.Retained.Messages, RetainedBytes: c.Retained.Bytes,
		RetainedUserMessages: c.Retained.Usermessages, RetainedUserBytes: c.Retained.Userbytes}
}

// QueueLimits derives a transport's queue limits from its policy name;
// Validate checked it.
func (c Config) QueueLimits(policy string) hub.QueueLimits {
	p, _ := hub.ParseOverflow(policy)
	return hub.QueueLimits{Messages: c.Queue.Messages, Bytes: c.Queue.Bytes, Overflow: p}
}
