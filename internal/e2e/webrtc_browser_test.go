package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/testkit"
)

// The page uses the browser's RTCPeerConnection and fetch, no library: a
// "streamhub" channel subscribed to browser/in, a reliable topic channel
// on browser/out that it sends on, and an unordered one (maxRetransmits 0)
// on browser/fast that it reads.
const webrtcPage = `<!doctype html><html><body><script>
const server = new URLSearchParams(location.search).get('server');
window.got = {control: [], fast: []};
window.state = 'new';
const pc = new RTCPeerConnection();
const control = pc.createDataChannel('streamhub');
const out = pc.createDataChannel('browser/out');
const fast = pc.createDataChannel('browser/fast', {ordered: false, maxRetransmits: 0});
control.onopen = () => control.send(JSON.stringify({op: 'sub', id: 's1', topics: ['browser/in']}));
control.onmessage = (e) => window.got.control.push(JSON.parse(e.data));
fast.onmessage = (e) => window.got.fast.push(e.data);
window.sendOut = (text) => out.send(text);
pc.onconnectionstatechange = () => window.state = pc.connectionState;
(async () => {
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === 'complete') return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
  });
  const resp = await fetch(server + '/v1/webrtc', {method: 'POST', headers: {'Content-Type': 'application/sdp'},
    body: pc.localDescription.sdp});
  if (resp.status !== 201) { window.state = 'refused ' + resp.status; return; }
  await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
})().catch((e) => window.state = 'error ' + e);
</script></body></html>`

// TestBrowserWebRTCDataChannels: Chromium subscribes on a streamhub
// channel and gets what mosquitto_pub publishes, sends on a topic channel
// what mosquitto_sub receives byte-exact, and reads an unordered channel.
func TestBrowserWebRTCDataChannels(t *testing.T) {
	exe := chromium(t)
	pub, sub := mosquittoTool(t, "mosquitto_pub"), mosquittoTool(t, "mosquitto_sub")
	s := testkit.Start(t, nil)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, webrtcPage)
	}))
	defer page.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		// The server's only candidate is on loopback, as in the default config.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if _, err := chromedp.Run(browser, chromedp.Navigate(page.URL+"/?server="+s.URL)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the peer connection to connect", func() bool {
		state := evalString(t, browser, `window.state`)
		if strings.HasPrefix(state, "refused") || strings.HasPrefix(state, "error") || state == "failed" {
			t.Fatalf("page: %s", state)
		}
		return state == "connected"
	})
	s.WaitSubscribers(t, "browser/in", 1)
	s.WaitSubscribers(t, "browser/fast", 1)

	// mosquitto_pub → streamhub channel, as a message envelope.
	if b, err := exec.CommandContext(ctx, pub, "-p", mqttPort(s), "-t", "browser/in", "-m", "from mosquitto").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, b)
	}
	testkit.Eventually(t, 10*time.Second, "the envelope on the streamhub channel", func() bool {
		return evalString(t, browser, `JSON.stringify(window.got.control.filter((m) => m.topic === 'browser/in').map((m) => m.payload))`) ==
			`["from mosquitto"]`
	})

	// Topic channel → mosquitto_sub, byte-exact.
	mqttSub := exec.CommandContext(ctx, sub, "-p", mqttPort(s), "-t", "browser/out", "-C", "1", "-W", "20", "-N")
	got := &strings.Builder{}
	mqttSub.Stdout = got
	if err := mqttSub.Start(); err != nil {
		t.Fatal(err)
	}
	s.WaitSubscribers(t, "browser/out", 2) // the page's channel and mosquitto_sub
	const text = "héllo {\"from\": \"chromium\"}\n\ttabs"
	if _, err := chromedp.Run(browser, chromedp.Evaluate[any](`window.sendOut(`+jsString(text)+`)`)); err != nil {
		t.Fatal(err)
	}
	if err := mqttSub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if got.String() != text {
		t.Errorf("mosquitto_sub got %q, want %q", got.String(), text)
	}

	// HTTP publish → the unordered channel.
	httpPublish(t, s.URL, "browser/fast", []byte("fast one"), "")
	testkit.Eventually(t, 10*time.Second, "the unordered channel's message", func() bool {
		return evalString(t, browser, `JSON.stringify(window.got.fast)`) == `["fast one"]`
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
