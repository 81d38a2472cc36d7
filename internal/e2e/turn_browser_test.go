package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// peerPage joins room r1 with clients/js/peer.js, relay only, over a
// minimal hub speaking the JSON WebSocket protocol (streamhub.js is the
// real one; peer.js needs only subscribe and publish). With ?send it
// sends 1,000 numbered messages once the channel opens.
const peerPage = `<!doctype html><html><body><script type="module">
import { peer } from '/peer.js';
const q = new URLSearchParams(location.search);
class MiniHub extends EventTarget {
  constructor() { super(); this.url = location.origin; this.options = {}; this.queue = []; }
  on(type, fn) { const h = (e) => fn(e.detail); this.addEventListener(type, h); return () => this.removeEventListener(type, h); }
  subscribe(filter, opts, onMessage) {
    const sub = { unsubscribe: () => this.ws.close() };
    this.ws = new WebSocket(location.origin.replace('http', 'ws') + '/v1/ws');
    this.ws.onopen = () => this.ws.send(JSON.stringify({ op: 'sub', id: 'sub', topics: [filter] }));
    this.ws.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'message') onMessage({ topic: m.topic, payload: m.payload });
      if (m.type === 'subscribed') {
        for (const b of this.queue) this.ws.send(b);
        this.queue = null;
        this.dispatchEvent(new CustomEvent('state', { detail: { state: 'connected', subscription: sub } }));
      }
    };
    return sub;
  }
  async publish(topic, payload) {
    const b = JSON.stringify({ op: 'pub', topic, payload });
    if (this.queue) this.queue.push(b); else this.ws.send(b);
  }
}
window.got = []; window.opened = false; window.errors = []; window.tracks = [];
let stream;
if (q.has('send')) { // a video track: a canvas changing colour
  const c = document.createElement('canvas'); c.width = 320; c.height = 240;
  const g = c.getContext('2d');
  setInterval(() => { g.fillStyle = 'hsl(' + (Date.now() / 10 % 360) + ',80%,50%)'; g.fillRect(0, 0, 320, 240); }, 33);
  stream = c.captureStream(30);
}
const room = await peer(new MiniHub(), 'r1', { id: q.get('id'), iceTransportPolicy: q.get('policy') || 'relay', stream });
room.addEventListener('track', (e) => {
  window.tracks.push(e.detail.track.kind);
  const v = document.createElement('video'); v.muted = true; v.srcObject = e.detail.streams[0] || new MediaStream([e.detail.track]);
  document.body.append(v); v.play().catch(() => {});
});
room.addEventListener('error', (e) => window.errors.push(String(e.detail.error)));
room.addEventListener('peer', (e) => { window.pc = e.detail.pc; });
room.addEventListener('channel', (e) => {
  const ch = e.detail.channel;
  ch.onmessage = (m) => window.got.push(m.data);
  const open = () => {
    window.opened = true;
    if (q.has('send')) for (let i = 0; i < 1000; i++) ch.send('m' + String(i).padStart(4, '0'));
  };
  if (ch.readyState === 'open') open(); else ch.onopen = open;
});
window.framesDecoded = async () => {
  let n = 0;
  for (const s of (await window.pc.getStats()).values()) if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0;
  return n;
};
window.localCandidateType = async () => {
  const stats = await window.pc.getStats();
  for (const s of stats.values()) {
    const pair = s.type === 'transport' && stats.get(s.selectedCandidatePairId);
    if (pair) return stats.get(pair.localCandidateId).candidateType;
  }
  return '';
};
</script></body></html>`

// TestTURNBrowsers: two Chromium processes join a room through peer.js
// and connect relay only, through our TURN server, or directly, and one
// receives 1,000 data-channel messages in order from the other, and a
// video track it decodes.
func TestTURNBrowsers(t *testing.T) {
	chromium(t)
	t.Run("relay", func(t *testing.T) { testTURNBrowsers(t, "relay", "relay") })
	// Direct: loopback host candidates, which webrtcTab lets Chromium use.
	t.Run("direct", func(t *testing.T) { testTURNBrowsers(t, "all", "host") })
}

func testTURNBrowsers(t *testing.T, policy, candidate string) {
	s := testkit.Start(t, func(c *config.Config) {
		c.TURN.Addr = "127.0.0.1:0"
		c.TURN.Minport, c.TURN.Maxport = 44000, 44999
	})
	_, file, _, _ := runtime.Caller(0)
	js, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "clients", "js", "peer.js"))
	if err != nil {
		t.Fatal(err)
	}
	// The page, peer.js and the server on one origin: the rest of the
	// requests go through to the server.
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, peerPage)
		case "/peer.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(js)
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	defer page.Close()

	receiver := webrtcTab(t, page.URL+"/?id=b&policy="+policy)
	sender := webrtcTab(t, page.URL+"/?id=a&send&policy="+policy)
	type state struct {
		Got    []string `json:"got"`
		Opened bool     `json:"opened"`
		Errors []string `json:"errors"`
	}
	read := func(b context.Context) state {
		st, err := chromedp.Run(b, chromedp.Evaluate[state](`({got: window.got, opened: window.opened, errors: window.errors})`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	testkit.Eventually(t, 60*time.Second, "the data channel to open", func() bool {
		st := read(sender)
		if len(st.Errors) > 0 {
			t.Fatalf("sender: %v", st.Errors)
		}
		return st.Opened
	})
	var got []string
	testkit.Eventually(t, 30*time.Second, "1,000 messages", func() bool { got = read(receiver).Got; return len(got) >= 1000 })
	for i, m := range got {
		if want := fmt.Sprintf("m%04d", i); m != want {
			t.Fatalf("message %d: %q, want %q", i, m, want)
		}
	}
	testkit.Eventually(t, 30*time.Second, "video frames decoded", func() bool {
		n, err := chromedp.Run(receiver, chromedp.Evaluate[int](`window.framesDecoded()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return n >= 10
	})
	for name, b := range map[string]context.Context{"sender": sender, "receiver": receiver} {
		typ, err := chromedp.Run(b, chromedp.Evaluate[string](`window.localCandidateType()`, chromedp.EvalAwaitPromise))
		if err != nil || typ != candidate {
			t.Fatalf("%s: local candidate %q (%v), want %s", name, typ, err, candidate)
		}
	}
	if st := s.TURN().Stats(); policy == "relay" && (st.AllocationsTotal < 2 || st.BytesToPeers == 0) {
		t.Fatalf("TURN stats %+v", st)
	}
}
