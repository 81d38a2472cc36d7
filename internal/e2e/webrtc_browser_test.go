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

// negotiateJS is what every page does with its peer connection: offer,
// wait for every candidate, POST to url, apply the answer, and resolve to
// the response; window.state follows the connection or says why it failed.
const negotiateJS = `
window.state = 'new';
async function negotiate(pc, url) {
  pc.onconnectionstatechange = () => window.state = pc.connectionState;
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((done) => {
      if (pc.iceGatheringState === 'complete') return done();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && done();
    });
    const resp = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'},
      body: pc.localDescription.sdp});
    const sdp = await resp.text();
    if (resp.status !== 201) { window.state = 'refused ' + resp.status + ' ' + sdp; return resp; }
    await pc.setRemoteDescription({type: 'answer', sdp});
    return resp;
  } catch (e) { window.state = 'error ' + e; }
}
`

// The page uses the browser's RTCPeerConnection and fetch, no library: a
// "streamhub" channel subscribed to browser/in, a reliable topic channel
// on browser/out that it sends on, and an unordered one (maxRetransmits 0)
// on browser/fast that it reads.
const webrtcPage = `<!doctype html><html><body><script>` + negotiateJS + `
const server = new URLSearchParams(location.search).get('server');
window.got = {control: [], fast: []};
const pc = new RTCPeerConnection();
const control = pc.createDataChannel('streamhub');
const out = pc.createDataChannel('browser/out');
const fast = pc.createDataChannel('browser/fast', {ordered: false, maxRetransmits: 0});
control.onopen = () => control.send(JSON.stringify({op: 'sub', id: 's1', topics: ['browser/in']}));
control.onmessage = (e) => window.got.control.push(JSON.parse(e.data));
fast.onmessage = (e) => window.got.fast.push(e.data);
window.sendOut = (text) => out.send(text);
negotiate(pc, server + '/v1/webrtc');
</script></body></html>`

// TestBrowserWebRTCDataChannels: Chromium subscribes on a streamhub
// channel and gets what mosquitto_pub publishes, sends on a topic channel
// what mosquitto_sub receives byte-exact, and reads an unordered channel.
func TestBrowserWebRTCDataChannels(t *testing.T) {
	pub, sub := mosquittoTool(t, "mosquitto_pub"), mosquittoTool(t, "mosquitto_sub")
	s := testkit.Start(t, nil)
	browser := webrtcBrowser(t, webrtcPage, "?server="+s.URL)
	ctx := browser
	waitConnected(t, browser)
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

// webrtcBrowser opens html (served from a page server of its own, with
// query) in headless Chromium allowed to reach the server's loopback ICE
// candidate, and returns the tab.
func webrtcBrowser(t *testing.T, html, query string) context.Context {
	t.Helper()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, html)
	}))
	t.Cleanup(page.Close)
	return webrtcTab(t, page.URL+"/"+query)
}

// webrtcTab opens url in a Chromium process of its own allowed to reach
// loopback ICE candidates, and returns the tab.
func webrtcTab(t *testing.T, url string) context.Context {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// The server's only candidate is on loopback, as in the default config.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if _, err := chromedp.Run(browser, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return browser
}

func waitConnected(t *testing.T, browser context.Context) {
	t.Helper()
	testkit.Eventually(t, 30*time.Second, "the peer connection to connect", func() bool {
		state := evalString(t, browser, `window.state`)
		if strings.HasPrefix(state, "refused") || strings.HasPrefix(state, "error") || state == "failed" {
			t.Fatalf("page: %s", state)
		}
		return state == "connected"
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

// The WHEP page plays a path: recvonly video and audio, the answer's
// tracks into a muted video element.
const whepPage = `<!doctype html><html><body><video id="v" muted autoplay playsinline></video><script>` + negotiateJS + `
const params = new URLSearchParams(location.search);
const pc = new RTCPeerConnection();
pc.addTransceiver('video', {direction: 'recvonly'});
pc.addTransceiver('audio', {direction: 'recvonly'});
pc.ontrack = (e) => { if (e.track.kind === 'video') v.srcObject = e.streams[0] || new MediaStream([e.track]); };
window.framesDecoded = async () => {
  let n = 0;
  (await pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') n = r.framesDecoded || 0; });
  return n;
};
negotiate(pc, params.get('server') + '/v1/whep/' + params.get('path'))
  .then((resp) => { if (resp) window.note = resp.headers.get('Streamhub-Note'); });
</script></body></html>`

// TestBrowserWHEP: ffmpeg publishes H.264 and AAC over RTMP; Chromium
// plays the path over WHEP (the AAC track left out, with a note): frames
// are decoded, time advances, the video has the published size.
func TestBrowserWHEP(t *testing.T) {
	requireFFmpeg(t)
	s := rtmpPublished(t)
	browser := webrtcBrowser(t, whepPage, "?server="+s.URL+"&path=live/cam1")
	waitConnected(t, browser)
	if note := evalString(t, browser, `window.note || ''`); !strings.Contains(note, "aac") {
		t.Errorf("Streamhub-Note %q does not name the AAC track left out", note)
	}
	var first float64
	testkit.Eventually(t, 30*time.Second, "the video playing at 1280x720", func() bool {
		size := evalString(t, browser, `v.videoWidth + 'x' + v.videoHeight`)
		first, _ = chromedp.Run(browser, chromedp.Evaluate[float64](`v.currentTime`))
		return size == "1280x720" && first > 0
	})
	testkit.Eventually(t, 10*time.Second, "time advancing and frames decoded", func() bool {
		now, _ := chromedp.Run(browser, chromedp.Evaluate[float64](`v.currentTime`))
		frames, err := chromedp.Run(browser, chromedp.Evaluate[float64](`window.framesDecoded()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return now > first+0.5 && frames > 15
	})
}

// The WHIP page publishes a canvas's capture stream (a moving square) to
// a path over WHIP.
const whipPage = `<!doctype html><html><body><canvas id="c" width="640" height="360"></canvas><script>` + negotiateJS + `
const params = new URLSearchParams(location.search);
const ctx = c.getContext('2d');
let x = 0;
setInterval(() => {
  ctx.fillStyle = '#204080'; ctx.fillRect(0, 0, 640, 360);
  ctx.fillStyle = '#f0c000'; ctx.fillRect(x = (x + 8) % 600, 150, 40, 40);
}, 33);
const pc = new RTCPeerConnection();
const stream = c.captureStream(30);
const tr = pc.addTransceiver(stream.getVideoTracks()[0], {direction: 'sendonly', streams: [stream]});
if (params.get('codec')) { // offer that codec only (video/VP8, ...)
  tr.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter(c => c.mimeType === params.get('codec')));
}
negotiate(pc, params.get('server') + '/v1/whip/' + params.get('path'));
</script></body></html>`

// TestBrowserWHIPToRTSP: Chromium publishes a canvas over WHIP (H.264, which
// the server prefers to the VP8 Chromium offers first); ffprobe reads it over RTSP.
func TestBrowserWHIPToRTSP(t *testing.T) {
	requireFFmpeg(t)
	s := mediaServer(t, nil)
	browser := webrtcBrowser(t, whipPage, "?server="+s.URL+"&path=live/canvas")
	waitConnected(t, browser)
	waitOnline(t, s, "live/canvas")
	streams := probe(t, "rtsp://"+s.RTSP().Addr()+"/live/canvas", "-rtsp_transport", "tcp")
	if len(streams) != 1 || streams[0].CodecName != "h264" || streams[0].Width == 0 {
		t.Fatalf("ffprobe over RTSP: %+v, want h264 with a size", streams)
	}
	t.Logf("canvas over WHIP, read over RTSP: %+v", streams)
}
