package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"streamhub/internal/config"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// seedPage is examples/seeds/NAME with the article's host replaced by addr.
func seedPage(t *testing.T, name, addr string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "seeds", name))
	if err != nil {
		t.Fatal(err)
	}
	page := strings.NewReplacer("iot-server.example.com", addr, "example.com", addr).Replace(string(b))
	if page == string(b) {
		t.Fatalf("%s names neither example.com nor iot-server.example.com", name)
	}
	return page
}

// TestSeedSnippetsInChromium: the seed articles' browser snippets, served
// from another site with only their host changed, work against a server
// configured with examples/seeds/streamhub.yaml: seed 000's
// WebSocket('wss://HOST/stream') sends and receives JSON, its
// <video src="https://HOST/stream.m3u8"> plays, and seed 001's
// WebSocket("wss://HOST") receives what MQTT publishes, while a browser's
// GET / still gets the dashboard (issue 24 item 17).
func TestSeedSnippetsInChromium(t *testing.T) {
	chromium(t)
	requireFFmpeg(t)
	t.Parallel()
	seeds, err := config.Load(filepath.Join("..", "..", "examples", "seeds", "streamhub.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := testkit.SelfSignedCert(t, "127.0.0.1")
	srv := mediaServer(t, func(c *config.Config) {
		c.HTTP.Cert, c.HTTP.Key = certFile, keyFile
		c.Routes = seeds.Routes
	})
	host := srv.Addr()
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	browser := mediaBrowser(t, chromedp.Flag("ignore-certificate-errors", true))
	var mu sync.Mutex
	var logged []string
	if err := chromedp.Listen(browser, func(ev any) {
		if ev, ok := ev.(*runtime.EventConsoleAPICalled); ok && len(ev.Args) > 0 {
			var text string
			json.Unmarshal(ev.Args[0].Value, &text) //nolint:errcheck // not a string: not ours
			mu.Lock()
			logged = append(logged, text)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	consoleSays := func(want string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range logged {
				if l == want {
					return true
				}
			}
			return false
		}
	}
	open := func(page string) {
		t.Helper()
		if _, err := chromedp.Run(browser, chromedp.Navigate(pageServer(t, page, ""))); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(browser, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	// Seed 000, WebSocket: streamData publishes JSON on devices/stream, and
	// what is published there arrives as JSON.
	open(seedPage(t, "seed000-websocket.html", host))
	eval(`window.got = []; socket.addEventListener('message', e => got.push(JSON.parse(e.data))); ''`)
	testkit.Eventually(t, 20*time.Second, "the seed's socket to open", func() bool {
		return eval(`String(socket.readyState)`) == "1"
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v1/subscribe?topic=devices/stream", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := https.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	srv.WaitSubscribers(t, "devices/stream", 2)
	eval(`streamData({temperature: 21.5}); ''`)
	if line := nextMessage(t, resp.Body); !strings.Contains(line, `{\"temperature\":21.5}`) {
		t.Errorf("streamData published %s", line)
	}
	if _, err := srv.Hub().Publish(ctx, &message.Message{Topic: "devices/stream", Payload: []byte(`{"from":"server"}`)}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the seed's onmessage to get the server's JSON", func() bool {
		return eval(`JSON.stringify(got)`) == `[{"temperature":21.5},{"from":"server"}]`
	})

	// Seed 001: WebSocket("wss://HOST") is the route at /; its send before
	// open throws, so the socket stays open and prints what MQTT's
	// temperature topic gets. A plain GET of / is still the dashboard.
	open(seedPage(t, "seed001-websocket.html", host))
	testkit.Eventually(t, 20*time.Second, `console "Connection established"`, consoleSays("Connection established"))
	srv.WaitSubscribers(t, "iot/sensor/temperature", 1)
	if _, err := srv.Hub().Publish(ctx, &message.Message{Topic: "iot/sensor/temperature", Payload: []byte("25")}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, `console "Received data: 25"`, consoleSays("Received data: 25"))
	dash, err := https.Get("https://" + host + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(dash.Body)
	dash.Body.Close()
	if dash.StatusCode != http.StatusOK || !strings.Contains(string(body), "<html") {
		t.Errorf("GET / with a WebSocket route at /: %s %.200s", dash.Status, body)
	}

	// Seed 000, HLS: <video src="https://HOST/stream.m3u8" controls> plays
	// live/cam1 once the user presses play.
	publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/cam1")
	waitOnline(t, srv, "live/cam1")
	open(seedPage(t, "seed000-hls.html", host))
	eval(`const v = document.querySelector('video'); v.muted = true; v.play(); ''`)
	videoPlays(t, browser)
}

// nextMessage is the next NDJSON message line of r.
func nextMessage(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"type":"message"`) {
			return sc.Text()
		}
	}
	t.Fatalf("the stream ended: %v", sc.Err())
	return ""
}

// TestREADMEBrowserSnippet: the README's browser snippet, run as it is
// (with the test server's address), publishes its hello on chat/room1
// without an exception: it used to send before the socket was open.
func TestREADMEBrowserSnippet(t *testing.T) {
	chromium(t)
	t.Parallel()
	s := testkit.Start(t, nil)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "In a browser, with no client library:\n\n")
	block, _, _ = strings.Cut(block, "\n\n")
	if !ok || !strings.Contains(block, "new WebSocket(") {
		t.Fatalf("README's browser snippet not found:\n%s", block)
	}
	script := strings.ReplaceAll(block, "127.0.0.1:8080", s.Addr())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp := testkit.Get(t, ctx, s.URL+"/v1/subscribe?topic=chat/room1", "application/x-ndjson")
	defer resp.Body.Close()
	s.WaitSubscribers(t, "chat/room1", 1)
	_, problems := dashboardBrowser(t, pageServer(t, "<script>\n"+script+"\n</script>", ""), 800, 600)
	if line := nextMessage(t, resp.Body); !strings.Contains(line, `{\"hello\":\"world\"}`) {
		t.Errorf("the snippet published %s", line)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the snippet failed in the browser: %q", p)
	}
}

// TestRoutesObeyAuth: a route is its endpoint under another name, with
// the same authentication and rights: each user gets from the route what
// the endpoint answers (401 without credentials, 403 without the right),
// and what a publish route takes is published.
func TestRoutesObeyAuth(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("viewer:"+string(hash)+"\nother:"+string(hash)+"\n"), 0o600) //nolint:errcheck // read at once
	s := testkit.Start(t, func(c *config.Config) {
		c.Auth = config.Auth{Required: true, Users: users, JWT: config.JWT{Secret: testSecret},
			ACL: []config.ACL{{Who: "viewer", Publish: []string{"devices/#"}, Subscribe: []string{"devices/#"}}}}
		c.Routes = []config.Route{{Path: "/events", Kind: config.RouteSSE, Topic: "devices/#"},
			{Path: "/stream", Kind: config.RouteWS, Topic: "devices/stream"},
			{Path: "/ingest", Kind: config.RoutePublish, Topic: "devices/ingest"}}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	status := func(method, url, user string) int {
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader("25"))
		if user != "" {
			req.SetBasicAuth(user, "pw")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	wsStatus := func(url, user string) int {
		var opts websocket.DialOptions
		if user != "" {
			opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token(t, user, time.Now().Add(time.Hour))}}
		}
		c, resp, err := websocket.Dial(ctx, url, &opts)
		if err == nil {
			c.CloseNow()
			return http.StatusSwitchingProtocols
		}
		if resp == nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	seen := map[int]bool{}
	for _, user := range []string{"", "other", "viewer"} {
		route, endpoint := status(http.MethodGet, s.URL+"/events", user), status(http.MethodGet, s.URL+"/v1/subscribe?topic=devices/%23", user)
		if route != endpoint {
			t.Errorf("GET /events as %q: %d, the endpoint %d", user, route, endpoint)
		}
		pubRoute, pubEndpoint := status(http.MethodPost, s.URL+"/ingest", user), status(http.MethodPost, s.URL+"/v1/publish/devices/ingest", user)
		if pubRoute != pubEndpoint {
			t.Errorf("POST /ingest as %q: %d, the endpoint %d", user, pubRoute, pubEndpoint)
		}
		wsRoute, wsEndpoint := wsStatus(s.WSURL+"/stream", user), wsStatus(s.WSURL+"/v1/ws/devices/stream", user)
		if wsRoute != wsEndpoint {
			t.Errorf("WebSocket /stream as %q: %d, the endpoint %d", user, wsRoute, wsEndpoint)
		}
		seen[route], seen[wsRoute] = true, true
	}
	if !seen[http.StatusOK] || !seen[http.StatusSwitchingProtocols] || len(seen) < 4 {
		t.Errorf("answers %v: want refusals and successes", seen)
	}
	// What a publish route takes reaches the topic's subscribers.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/subscribe?topic=devices/ingest", nil)
	req.SetBasicAuth("viewer", "pw")
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s.WaitSubscribers(t, "devices/ingest", 1)
	if code := status(http.MethodPost, s.URL+"/ingest", "viewer"); code != http.StatusOK {
		t.Fatalf("POST /ingest: %d", code)
	}
	if line := nextMessage(t, resp.Body); !strings.Contains(line, `"topic":"devices/ingest"`) || !strings.Contains(line, `"25"`) {
		t.Errorf("POST /ingest published %s", line)
	}
}
