package kit_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/paho"
	"github.com/pion/webrtc/v4"

	"streamhub/internal/config"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/server"
	"streamhub/internal/testkit"
	"streamhub/internal/testkit/poll"
)

// TestTransportConformance holds every subscribing transport to one
// lifecycle (issue 25, item 2): each start kind (a gap included) in
// order, a kick with the protocol's reason, an idle stream that lives
// through 70 s on every connection kind it is served on, an encoder panic
// that ends only its own connection, and nothing left (subscription,
// registry entry, connection count, goroutines) once the client goes.
// The transport-specific part is a driver: how to connect from a start,
// and what the protocol says when it ends.
func TestTransportConformance(t *testing.T) {
	// Every idle client waits at once, so the suite waits its 70 s once
	// (not per client, nor per -parallel's few at a time); the rest runs
	// after, alone, for its goroutine counts.
	t.Run("idle", func(t *testing.T) {
		if testing.Short() {
			t.Skip("idles 70 s")
		}
		checkIdle(t)
	})
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			e := newConfEnv(t, false)
			base := e.counts(t, d)
			t.Run("starts", func(t *testing.T) { checkStarts(t, e, d) })
			e.waitCounts(t, d, base)
			t.Run("kick", func(t *testing.T) { checkKick(t, e, d) })
			e.waitCounts(t, d, base)
			t.Run("encoder panic", func(t *testing.T) {
				if !d.panics {
					// MQTT's writer is its own (deliver.go), out of the
					// hook's reach: TestWriterPanicEndsOnlyItsConnection
					// in its package holds it to this.
					t.Skip(d.name + " does not encode through kit.Writer")
				}
				checkPanic(t, e, d, base)
			})
			e.waitCounts(t, d, base)
		})
	}
}

// boom is the payload whose encoding panics.
const boom = "conformance-boom"

// panicOnBoom is every writer's encode check: it makes boom's encoding
// panic.
func panicOnBoom(d hub.Delivery) {
	if string(d.Msg.Payload) == boom {
		panic("test encoder panic")
	}
}

// idleFor is how long the idle subtests wait; STREAMHUB_IDLE shortens it
// while working on the suite.
func idleFor() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("STREAMHUB_IDLE")); err == nil {
		return d
	}
	return 70 * time.Second
}

// historyWindow is the history windows' size: the start subtests publish
// twice as many.
const historyWindow = 4

// start is where a client begins.
type start struct {
	kind   string // live, cursor, seq, time, last, gap
	cursor message.Cursor
	seq    uint64
	since  time.Time
	last   int
}

// from is the start as a from= value (cursor, sequence or time), "" for
// live or last.
func (s start) from() string {
	switch s.kind {
	case "cursor", "gap":
		return s.cursor.String()
	case "seq":
		return strconv.FormatUint(s.seq, 10)
	case "time":
		return s.since.UTC().Format(time.RFC3339Nano)
	}
	return ""
}

// query is the start as HTTP query parameters.
func (s start) query() string {
	switch s.kind {
	case "live":
		return ""
	case "last":
		return "&last=" + strconv.Itoa(s.last)
	case "cursor", "gap":
		return "&cursor=" + url.QueryEscape(s.from())
	}
	return "&from=" + url.QueryEscape(s.from())
}

// item is one thing a client saw: a message, the start's answer, the end.
type item struct {
	kind string // msg, answer, end
	text string // payload, or the end's reason
	gap  bool   // answer: a gap was reported
}

// stream is a client's view of its subscription, fed by the driver's
// reader goroutine.
type stream struct {
	items    chan item
	answered chan struct{}
	once     sync.Once
	gap      bool
	stop     func() // ends the connection
	done     chan struct{}
}

func newStream() *stream {
	return &stream{items: make(chan item, 4096), answered: make(chan struct{}), done: make(chan struct{})}
}

// run runs read on a goroutine of its own, which reports through emit.
func (s *stream) run(read func(emit func(item))) {
	go func() {
		defer close(s.done)
		read(s.emit)
	}()
}

func (s *stream) emit(it item) {
	if it.kind == "answer" {
		s.once.Do(func() { s.gap = it.gap; close(s.answered) })
		return
	}
	s.items <- it
}

// next returns the next message's payload.
func (s *stream) next(ctx context.Context) (string, error) {
	select {
	case it := <-s.items:
		if it.kind == "end" {
			return "", fmt.Errorf("the stream ended: %s", it.text)
		}
		return it.text, nil
	case <-ctx.Done():
		return "", fmt.Errorf("no message: %w", ctx.Err())
	}
}

// end waits for the stream's end, skipping messages, and returns why.
func (s *stream) end(ctx context.Context) (string, error) {
	for {
		select {
		case it := <-s.items:
			if it.kind == "end" {
				return it.text, nil
			}
		case <-ctx.Done():
			return "", fmt.Errorf("the stream did not end: %w", ctx.Err())
		}
	}
}

// reportedGap waits for the start's answer and says whether it was a gap.
func (s *stream) reportedGap(ctx context.Context) (bool, error) {
	select {
	case <-s.answered:
		return s.gap, nil
	case <-ctx.Done():
		return false, errors.New("no answer to the subscribe")
	}
}

// close ends the connection and waits for its reader.
func (s *stream) close() {
	s.stop()
	<-s.done
}

// driver is the part of the suite that knows one protocol.
type driver struct {
	name      string
	transport string   // its name in the registry and the metrics
	starts    []string // start kinds it takes besides live
	kicked    string   // the reason a kicked client's stream ends with
	panics    bool     // it encodes through kit.Writer
	// windowed: each poll reads from the history windows (long polling),
	// so messages published faster than it polls are lost past a window.
	windowed bool
	idle     []string // connection kinds to hold idle: h1, h2c, tls-h1, tls-h2, tcp, udp
	open     func(t *testing.T, e *confEnv, via, topic string, st start) *stream
}

var allStarts = []string{"cursor", "seq", "time", "last", "gap"}

var drivers = []driver{
	{name: "sse", transport: "sse", starts: allStarts, kicked: "kicked", panics: true,
		idle: []string{"h1", "h2c", "tls-h1", "tls-h2"}, open: openSSE},
	{name: "ndjson", transport: "ndjson", starts: allStarts, kicked: "kicked", panics: true,
		idle: []string{"h1", "h2c", "tls-h1", "tls-h2"}, open: openNDJSON},
	{name: "longpoll", transport: "longpoll", starts: []string{"cursor", "gap"}, kicked: "answered", panics: true, windowed: true,
		idle: []string{"h1", "h2c", "tls-h1", "tls-h2"}, open: openLongPoll},
	{name: "ws-plain", transport: "ws", starts: allStarts, kicked: "4000", panics: true,
		idle: []string{"h1", "tls-h1"}, open: openPlainWS},
	{name: "ws-json", transport: "ws", starts: allStarts, kicked: "4000", panics: true,
		idle: []string{"h1", "tls-h1"}, open: openJSONWS},
	{name: "tcp-text", transport: "tcp-text", starts: []string{"cursor", "seq", "time", "gap"}, kicked: "kicked", panics: true,
		idle: []string{"tcp"}, open: openTCPText},
	{name: "tcp-out", transport: "tcp-out", kicked: "eof", panics: true, idle: []string{"tcp"}, open: openTCPOut},
	{name: "webrtc", transport: "webrtc", starts: allStarts, kicked: "closed", panics: true, idle: []string{"udp"}, open: openWebRTC},
	{name: "mqtt", transport: "mqtt", kicked: "0x98", idle: []string{"tcp"}, open: openMQTT},
}

// outTopics are the topics the raw TCP output ports serve, one port each.
func outTopics() []string {
	return []string{"live/t", "kick/t", "panic/a", "panic/b", "idle/tcp-out/tcp"}
}

// confEnv is one server and the clients that reach it.
type confEnv struct {
	s       *testkit.Server
	secure  bool
	pool    *x509.CertPool
	outAddr map[string]string // raw TCP output port by topic
}

func newConfEnv(t *testing.T, secure bool) *confEnv {
	t.Helper()
	e := &confEnv{secure: secure, outAddr: map[string]string{}}
	var cert, key string
	if secure {
		cert, key, e.pool = testkit.SelfSignedCert(t, "127.0.0.1")
	}
	var specs []string
	for _, tp := range outTopics() {
		addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		e.outAddr[tp] = addr
		specs = append(specs, addr+"="+tp)
	}
	e.s = testkit.Start(t, func(c *config.Config) {
		c.Data = "" // in memory: a resume older than the windows is a gap
		c.History.Messages = historyWindow
		c.TCP.Addr = "127.0.0.1:0"
		c.TCP.Out = specs
		c.HTTP.Cert, c.HTTP.Key = cert, key
	}, server.WithEncodeCheck(panicOnBoom))
	return e
}

// base is the server's URL for via (h1, h2c, tls-h1, tls-h2).
func (e *confEnv) base() string {
	if e.secure {
		return "https://" + e.s.Addr()
	}
	return e.s.URL
}

// client is an HTTP client that speaks via, keeping no connection idle:
// what a client holds is not counted against the server.
func (e *confEnv) client(t *testing.T, via string) *http.Client {
	var p http.Protocols
	tr := &http.Transport{Protocols: &p, DisableKeepAlives: true}
	switch via {
	case "h2c":
		p.SetUnencryptedHTTP2(true)
	case "tls-h2":
		p.SetHTTP2(true)
	default:
		p.SetHTTP1(true)
	}
	if e.secure {
		tr.TLSClientConfig = &tls.Config{RootCAs: e.pool}
	}
	c := &http.Client{Transport: tr}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// get starts a GET on url with accept, checking the protocol of via.
func (e *confEnv) get(t *testing.T, ctx context.Context, via, url, accept string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", accept)
	resp, err := e.client(t, via).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + btoi(via == "h2c" || via == "tls-h2"); resp.ProtoMajor != want {
		t.Fatalf("%s answered over %s", via, resp.Proto)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	return resp
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (e *confEnv) publish(t *testing.T, topic string, payloads ...string) []message.Cursor {
	t.Helper()
	var out []message.Cursor
	for _, p := range payloads {
		c, err := e.s.Hub().Publish(t.Context(), &message.Message{Topic: topic, Payload: []byte(p), QoS: message.DefaultQoS})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// counts is what a transport holds on the server.
type counts struct {
	subscriptions, listed, connections, goroutines int
}

func (e *confEnv) counts(t *testing.T, d driver) counts {
	t.Helper()
	return counts{subscriptions: e.s.Hub().Stats().Subscriptions, listed: len(e.listed(t, d.transport, "")),
		connections: e.connections(t, d.transport), goroutines: runtime.NumGoroutine()}
}

// goroutineSlack is how many goroutines more than before the client came
// may linger (a runtime timer's, an HTTP client's idle connection).
const goroutineSlack = 3

// waitCounts waits until the transport holds what it held at base.
func (e *confEnv) waitCounts(t *testing.T, d driver, base counts) {
	t.Helper()
	var now counts
	deadline := time.Now().Add(poll.MinWait)
	for {
		now = e.counts(t, d)
		if now.subscriptions == base.subscriptions && now.listed == base.listed &&
			now.connections == base.connections && now.goroutines <= base.goroutines+goroutineSlack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%s's clients left %+v, before them %+v; goroutines:\n%s", d.name, now, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listedConn is a registry entry as the admin API lists it.
type listedConn struct {
	ID        string   `json:"id"`
	Transport string   `json:"transport"`
	Filters   []string `json:"filters"`
}

// listed is the registry's entries of transport holding filter ("": any).
func (e *confEnv) listed(t *testing.T, transport, filter string) []listedConn {
	t.Helper()
	var page struct{ Clients []listedConn }
	e.adminJSON(t, "clients?limit=1000", &page)
	var out []listedConn
	for _, c := range page.Clients {
		if c.Transport == transport && (filter == "" || strings.Contains(strings.Join(c.Filters, " "), filter)) {
			out = append(out, c)
		}
	}
	return out
}

func (e *confEnv) adminJSON(t *testing.T, path string, v any) {
	t.Helper()
	resp, err := e.client(t, "h1").Get(e.base() + "/v1/admin/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// kick disconnects the one client of transport on filter.
func (e *confEnv) kick(t *testing.T, transport, filter string) {
	t.Helper()
	var found []listedConn
	poll.Eventually(t, 10*time.Second, transport+" client on "+filter+" listed", func() bool {
		found = e.listed(t, transport, filter)
		return len(found) == 1
	})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodDelete, e.base()+"/v1/admin/clients/"+found[0].ID, nil)
	resp, err := e.client(t, "h1").Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("kick: %s", resp.Status)
	}
}

var connectionsLine = regexp.MustCompile(`(?m)^streamhub_connections\{transport="([^"]+)"\} (\d+)$`)

// connections is the streamhub_connections gauge of transport.
func (e *confEnv) connections(t *testing.T, transport string) int {
	t.Helper()
	resp, err := e.client(t, "h1").Get(e.base() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, m := range connectionsLine.FindAllStringSubmatch(string(body), -1) {
		if m[1] == transport {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

func readCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// expect reads want from st, in order.
func expect(t *testing.T, st *stream, want ...string) {
	t.Helper()
	ctx := readCtx(t)
	for i, w := range want {
		got, err := st.next(ctx)
		if err != nil {
			t.Fatalf("message %d of %q: %v", i, want, err)
		}
		if got != w {
			t.Fatalf("message %d: got %q, want %q (all: %q)", i, got, w, want)
		}
	}
}

// checkStarts opens a client from each start kind the driver takes and
// expects what it names, in order, with a gap reported only where history
// was lost, then the live messages that follow.
func checkStarts(t *testing.T, e *confEnv, d driver) {
	t.Run("live", func(t *testing.T) {
		topic := "live/t"
		st := d.open(t, e, "h1", topic, start{kind: "live"})
		defer st.close()
		e.s.WaitSubscribers(t, topic, 1)
		var want []string
		for i := range 50 {
			want = append(want, fmt.Sprintf("m%02d", i))
		}
		if !d.windowed {
			e.publish(t, topic, want...)
			expect(t, st, want...)
		} else {
			for chunk := range slices.Chunk(want, historyWindow) {
				e.publish(t, topic, chunk...)
				expect(t, st, chunk...)
			}
		}
		if gap, err := st.reportedGap(readCtx(t)); err != nil || gap {
			t.Errorf("a live start reported gap %v (%v)", gap, err)
		}
	})
	for _, kind := range d.starts {
		t.Run(kind, func(t *testing.T) {
			// A window of its own (one per first topic level): p0..p7
			// published, p4..p7 held.
			topic := "start-" + kind + "/t"
			cursors := e.publish(t, topic, "p0", "p1", "p2", "p3", "p4", "p5")
			time.Sleep(2 * time.Millisecond) // p6 is published after since, by the clock too
			since := time.Now()
			time.Sleep(2 * time.Millisecond)
			cursors = append(cursors, e.publish(t, topic, "p6", "p7")...)
			st := start{kind: kind}
			want := []string{"p6", "p7"}
			switch kind {
			case "cursor":
				st.cursor = cursors[5]
			case "seq":
				st.seq = cursors[6].Seq
			case "time":
				st.since = since
			case "last":
				st.last = 2
			case "gap":
				st.cursor = cursors[0]
				want = []string{"p4", "p5", "p6", "p7"}
			}
			s := d.open(t, e, "h1", topic, st)
			defer s.close()
			expect(t, s, want...)
			gap, err := s.reportedGap(readCtx(t))
			if err != nil || gap != (kind == "gap") {
				t.Errorf("start %s reported gap %v (%v), want %v", kind, gap, err, kind == "gap")
			}
			e.publish(t, topic, "after")
			expect(t, s, "after")
		})
	}
}

// checkKick kicks a live client through the admin API and expects the
// protocol's reason.
func checkKick(t *testing.T, e *confEnv, d driver) {
	topic := "kick/t"
	st := d.open(t, e, "h1", topic, start{kind: "live"})
	defer st.close()
	e.s.WaitSubscribers(t, topic, 1)
	e.kick(t, d.transport, topic)
	reason, err := st.end(readCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if reason != d.kicked {
		t.Errorf("kicked: the stream ended with %q, want %q", reason, d.kicked)
	}
}

// checkPanic makes the encoding of one client's message panic: that
// client's connection ends and leaves nothing; another goes on.
func checkPanic(t *testing.T, e *confEnv, d driver, base counts) {
	victim := d.open(t, e, "h1", "panic/a", start{kind: "live"})
	defer victim.close()
	other := d.open(t, e, "h1", "panic/b", start{kind: "live"})
	defer other.close()
	e.s.WaitSubscribers(t, "panic/a", 1)
	e.s.WaitSubscribers(t, "panic/b", 1)
	e.publish(t, "panic/a", boom)
	if _, err := victim.end(readCtx(t)); err != nil {
		t.Fatalf("the panicking connection: %v", err)
	}
	e.publish(t, "panic/b", "still here")
	expect(t, other, "still here")
	other.close()
	victim.close()
	e.waitCounts(t, d, base)
}

// checkIdle holds a live client of every driver on every connection
// kind it is served on idle for idleFor, then expects a message on each.
func checkIdle(t *testing.T) {
	plain, secure := newConfEnv(t, false), newConfEnv(t, true)
	type idler struct {
		name, topic string
		e           *confEnv
		st          *stream
	}
	var idlers []idler
	for _, d := range drivers {
		for _, via := range d.idle {
			e := plain
			if strings.HasPrefix(via, "tls") {
				e = secure
			}
			topic := "idle/" + d.name + "/" + via
			st := d.open(t, e, via, topic, start{kind: "live"})
			defer st.close()
			e.s.WaitSubscribers(t, topic, 1)
			idlers = append(idlers, idler{name: d.name + "/" + via, topic: topic, e: e, st: st})
		}
	}
	time.Sleep(idleFor())
	for _, i := range idlers {
		t.Run(i.name, func(t *testing.T) {
			i.e.publish(t, i.topic, "after idle")
			expect(t, i.st, "after idle")
		})
	}
}

// ---- drivers ----

// httpStream reads a streaming response with read until it ends.
func httpStream(t *testing.T, e *confEnv, via, path, accept string, read func(resp *http.Response, emit func(item))) *stream {
	ctx, cancel := context.WithCancel(t.Context())
	resp := e.get(t, ctx, via, e.base()+path, accept)
	st := newStream()
	st.stop = func() { cancel(); resp.Body.Close() }
	st.run(func(emit func(item)) { read(resp, emit) })
	return st
}

func openSSE(t *testing.T, e *confEnv, via, topic string, s start) *stream {
	return httpStream(t, e, via, "/v1/subscribe?topic="+url.QueryEscape(topic)+s.query(), "text/event-stream",
		func(resp *http.Response, emit func(item)) {
			r := testkit.NewSSEReader(resp.Body)
			gap := resp.Header.Get("Streamhub-Gap") == "true"
			for {
				ev, err := r.Next()
				if err != nil {
					emit(item{kind: "end", text: "eof"})
					return
				}
				switch ev.Event {
				case "gap":
					gap = true
				case "close":
					var c struct{ Reason string }
					_ = json.Unmarshal([]byte(ev.Data), &c)
					emit(item{kind: "end", text: c.Reason})
					return
				case "message":
					emit(item{kind: "answer", gap: gap})
					emit(item{kind: "msg", text: ev.Data})
				}
			}
		})
}

// envelopeLine is an NDJSON or JSON-protocol line: a message or a control.
type envelopeLine struct {
	Type    string
	Payload string
	Gap     bool
	Reason  string
	Message string
}

func openNDJSON(t *testing.T, e *confEnv, via, topic string, s start) *stream {
	return httpStream(t, e, via, "/v1/subscribe?topic="+url.QueryEscape(topic)+s.query(), "application/x-ndjson",
		func(resp *http.Response, emit func(item)) {
			sc := bufio.NewScanner(resp.Body)
			gap := false
			for sc.Scan() {
				if len(sc.Bytes()) == 0 {
					continue // heartbeat
				}
				var l envelopeLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					emit(item{kind: "end", text: "bad line: " + sc.Text()})
					return
				}
				switch l.Type {
				case "gap":
					gap = true
				case "close":
					emit(item{kind: "end", text: l.Reason})
					return
				case "message":
					emit(item{kind: "answer", gap: gap})
					emit(item{kind: "msg", text: l.Payload})
				}
			}
			emit(item{kind: "end", text: "eof"})
		})
}

// openLongPoll polls in a loop, one poll always waiting, each from the
// cursor the last answered; an answer with nothing before its timeout is
// the end (a kick answers the poll).
func openLongPoll(t *testing.T, e *confEnv, via, topic string, s start) *stream {
	ctx, cancel := context.WithCancel(t.Context())
	client := e.client(t, via)
	st := newStream()
	st.stop = cancel
	cursor := ""
	if s.kind != "live" {
		cursor = s.from()
	}
	st.run(func(emit func(item)) {
		polled := false
		for {
			u := e.base() + "/v1/poll?timeout=100s&topic=" + url.QueryEscape(topic) + "&cursor=" + url.QueryEscape(cursor)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := client.Do(req)
			if err != nil {
				emit(item{kind: "end", text: "error"})
				return
			}
			var ans struct {
				Cursor   string
				Gap      bool
				Messages []envelopeLine
			}
			err = json.NewDecoder(resp.Body).Decode(&ans)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				emit(item{kind: "end", text: fmt.Sprintf("status %d: %v", resp.StatusCode, err)})
				return
			}
			if polled && ans.Gap {
				emit(item{kind: "end", text: "a later poll lost history"})
				return
			}
			polled = true
			emit(item{kind: "answer", gap: ans.Gap})
			if len(ans.Messages) == 0 {
				emit(item{kind: "end", text: "answered"})
				return
			}
			for _, m := range ans.Messages {
				emit(item{kind: "msg", text: m.Payload})
			}
			cursor = ans.Cursor
		}
	})
	return st
}

// dialWS opens a WebSocket on path over via (h1 or tls-h1).
func dialWS(t *testing.T, e *confEnv, via, path string) (*websocket.Conn, *http.Response, context.Context, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	u := strings.Replace(e.base(), "http", "ws", 1) + path
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: e.client(t, via)})
	if err != nil {
		cancel()
		t.Fatalf("dial %s: %v", u, err)
	}
	c.SetReadLimit(1 << 20)
	return c, resp, ctx, func() { cancel(); c.CloseNow() }
}

// wsEnd is the reason a WebSocket read ended with: its close code.
func wsEnd(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return strconv.Itoa(int(code))
	}
	return "eof"
}

func openPlainWS(t *testing.T, e *confEnv, via, topic string, s start) *stream {
	c, resp, ctx, stop := dialWS(t, e, via, "/v1/ws/"+topic+"?"+strings.TrimPrefix(s.query(), "&"))
	st := newStream()
	st.stop = stop
	st.run(func(emit func(item)) {
		emit(item{kind: "answer", gap: resp.Header.Get("Streamhub-Gap") == "true"})
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				emit(item{kind: "end", text: wsEnd(err)})
				return
			}
			emit(item{kind: "msg", text: string(data)})
		}
	})
	return st
}

// subRequest is the JSON protocol's subscribe from s.
func subRequest(topic string, s start) []byte {
	req := map[string]any{"op": "sub", "topics": []string{topic}}
	switch s.kind {
	case "cursor", "gap":
		req["cursor"] = s.from()
	case "seq", "time":
		req["from"] = s.from()
	case "last":
		req["last"] = s.last
	}
	b, _ := json.Marshal(req)
	return b
}

// jsonProtocol handles one JSON-protocol frame, reporting whether the
// stream goes on.
func jsonProtocol(data []byte, emit func(item)) bool {
	var l envelopeLine
	if err := json.Unmarshal(data, &l); err != nil {
		emit(item{kind: "end", text: "bad frame: " + string(data)})
		return false
	}
	switch l.Type {
	case "subscribed":
		emit(item{kind: "answer", gap: l.Gap})
	case "message":
		emit(item{kind: "msg", text: l.Payload})
	case "error":
		emit(item{kind: "end", text: "error: " + l.Message})
		return false
	}
	return true
}

func openJSONWS(t *testing.T, e *confEnv, via, topic string, s start) *stream {
	c, _, ctx, stop := dialWS(t, e, via, "/v1/ws")
	if err := c.Write(ctx, websocket.MessageText, subRequest(topic, s)); err != nil {
		t.Fatal(err)
	}
	st := newStream()
	st.stop = stop
	st.run(func(emit func(item)) {
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				emit(item{kind: "end", text: wsEnd(err)})
				return
			}
			if !jsonProtocol(data, emit) {
				return
			}
		}
	})
	return st
}

func openTCPText(t *testing.T, e *confEnv, _, topic string, s start) *stream {
	c, err := net.Dial("tcp", e.s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	cmd := "SUB " + topic
	if from := s.from(); from != "" {
		cmd += " FROM " + from
	}
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		t.Fatal(err)
	}
	st := newStream()
	st.stop = func() { c.Close() }
	st.run(func(emit func(item)) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				emit(item{kind: "end", text: "eof"})
				return
			}
			line = strings.TrimRight(line, "\r\n")
			verb, rest, _ := strings.Cut(line, " ")
			switch verb {
			case "+OK":
				emit(item{kind: "answer", gap: strings.HasPrefix(rest, "gap ")})
			case "-ERR":
				code, _, _ := strings.Cut(rest, " ")
				emit(item{kind: "end", text: code})
				return
			case "MSG":
				f := strings.Fields(rest)
				n, _ := strconv.Atoi(f[len(f)-1])
				payload := make([]byte, n+1)
				if _, err := io.ReadFull(r, payload); err != nil {
					emit(item{kind: "end", text: "eof"})
					return
				}
				emit(item{kind: "msg", text: string(payload[:n])})
			}
		}
	})
	return st
}

func openTCPOut(t *testing.T, e *confEnv, _, topic string, _ start) *stream {
	addr, ok := e.outAddr[topic]
	if !ok {
		t.Fatalf("no output port serves %s", topic)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	st := newStream()
	st.stop = func() { c.Close() }
	st.emit(item{kind: "answer"})
	st.run(func(emit func(item)) {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			emit(item{kind: "msg", text: sc.Text()})
		}
		emit(item{kind: "end", text: "eof"})
	})
	return st
}

// openWebRTC runs the JSON protocol on a "streamhub" data channel of a
// pion peer.
func openWebRTC(t *testing.T, e *confEnv, _, topic string, s start) *stream {
	pc := testkit.NewPeerConnection(t)
	dc, err := pc.CreateDataChannel("streamhub", nil)
	if err != nil {
		t.Fatal(err)
	}
	st := newStream()
	frames := make(chan []byte, 4096)
	ended := make(chan string, 1)
	dc.OnOpen(func() { _ = dc.SendText(string(subRequest(topic, s))) })
	dc.OnMessage(func(m webrtc.DataChannelMessage) { frames <- m.Data })
	end := func() {
		select {
		case ended <- "closed":
		default:
		}
	}
	dc.OnClose(end)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			end()
		}
	})
	resp := testkit.PostOffer(t, e.client(t, "h1"), e.base()+"/v1/webrtc", pc, nil)
	if resp.StatusCode != http.StatusCreated {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/webrtc: %s %s", resp.Status, body)
	}
	st.stop = func() { _ = pc.Close() }
	st.run(func(emit func(item)) {
		for {
			select {
			case f := <-frames:
				if !jsonProtocol(f, emit) {
					return
				}
			case why := <-ended:
				emit(item{kind: "end", text: why})
				return
			}
		}
	})
	return st
}

// openMQTT subscribes a paho MQTT 5 client with a clean session that
// expires with its connection.
func openMQTT(t *testing.T, e *confEnv, _, topic string, _ start) *stream {
	nc, err := net.Dial("tcp", e.s.MQTT().Addr("mqtt").String())
	if err != nil {
		t.Fatal(err)
	}
	st := newStream()
	ctx, cancel := context.WithCancel(t.Context())
	var c *paho.Client
	c = paho.NewClient(paho.ClientConfig{Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			st.emit(item{kind: "msg", text: string(pr.Packet.Payload)})
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { st.emit(item{kind: "end", text: fmt.Sprintf("0x%02x", d.ReasonCode)}) },
		OnClientError:      func(err error) { st.emit(item{kind: "end", text: "eof: " + err.Error()}) },
	})
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	id := strings.NewReplacer("/", "-").Replace(topic) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if ca, err := c.Connect(cctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil || ca.ReasonCode != 0 {
		t.Fatalf("connect: %v %+v", err, ca)
	}
	if _, err := c.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	st.emit(item{kind: "answer"})
	st.stop = func() {
		_ = c.Disconnect(&paho.Disconnect{})
		cancel()
		nc.Close()
	}
	st.run(func(func(item)) { <-ctx.Done() })
	return st
}
