package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/testkit"
)

// attackPage is a page on another port of 127.0.0.1 that uses a signed-in
// dashboard's session: it reads the CSRF token from any cookie it can see
// or from the session endpoint, then reads the configuration, kicks a
// client, publishes as the admin and opens the JSON WebSocket. It reports
// what each attempt got: a status, "blocked" (the browser kept the answer
// from it) or, for the WebSocket, whether it opened.
const attackPage = `<!doctype html><script>
window.attack = async (server, victim) => {
  const out = {cookie: document.cookie};
  let csrf = (document.cookie.match(/csrf=([^;]*)/) || [])[1] || '';
  const attempt = async (name, path, options) => {
    try {
      const resp = await fetch(server + path, Object.assign({credentials: 'include'}, options));
      out[name] = resp.status;
      if (name === 'session' && resp.ok) csrf = (await resp.json()).csrf || csrf;
    } catch (e) { out[name] = 'blocked'; }
  };
  await attempt('session', '/v1/admin/session', {});
  await attempt('config', '/v1/admin/config', {});
  await attempt('kick', '/v1/admin/clients/' + victim, {method: 'DELETE', headers: {'X-CSRF-Token': csrf}});
  await attempt('publish', '/v1/publish/secret/evil?retain=true', {method: 'POST', body: 'pwned', headers: {'X-CSRF-Token': csrf}});
  out.ws = await new Promise((resolve) => {
    const ws = new WebSocket(server.replace('http', 'ws') + '/v1/ws');
    ws.onopen = () => { ws.close(); resolve('open'); };
    ws.onerror = () => resolve('refused');
  });
  return JSON.stringify(out);
};
</script><p>another port</p>`

// TestAdminSessionSameOriginOnly: an admin signed in to the dashboard
// visits a page served on another port of the same host (cookies are not
// separated by port, and cors.origins is the default "*"). That page can
// read no CSRF token, the admin API refuses it (the configuration, a
// kick), and the session cookie its requests carry counts for nothing: its
// publish is anonymous (refused), its WebSocket too. The dashboard itself
// still works.
func TestAdminSessionSameOriginOnly(t *testing.T) {
	s := securedServer(t)
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, attackPage)
	}))
	t.Cleanup(attacker.Close)

	// A victim to kick: an SSE subscriber of alice's.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+"/v1/subscribe?topic=public/x", nil)
	req.Header.Set("Authorization", basicAuth("alice", "alice-pw"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	go func() { _, _ = io.Copy(io.Discard, bufio.NewReader(resp.Body)) }()
	victim := waitClient(t, s, "sse", "public/x", basicAuth("root", "root-pw"))

	browser, _ := dashboardBrowser(t, s.URL+"/", 1280, 900)
	testkit.Eventually(t, 10*time.Second, "the sign-in form", func() bool {
		return evalString(t, browser, `String(!document.querySelector('#login').hidden)`) == "true"
	})
	if err := chromedp.Do(browser,
		chromedp.SetValue(chromedp.CSS(`#login-form [name=user]`), "root"),
		chromedp.SetValue(chromedp.CSS(`#login-form [name=password]`), "root-pw"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the signed-in dashboard, live", func() bool {
		return evalString(t, browser, `String(!document.querySelector('#app').hidden && document.querySelector('#live').classList.contains('on'))`) == "true"
	})

	if err := chromedp.Do(browser, chromedp.Navigate(attacker.URL+"/")); err != nil {
		t.Fatal(err)
	}
	raw, err := chromedp.Run(browser, chromedp.Evaluate[string](`window.attack('`+s.URL+`', '`+victim.ID+`')`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	t.Logf("from another port: %s", raw)
	if c, _ := got["cookie"].(string); strings.Contains(c, "csrf") {
		t.Errorf("the other port's page reads a CSRF cookie: %q", c)
	}
	for _, name := range []string{"session", "config", "kick"} {
		if got[name] != "blocked" {
			t.Errorf("%s from another origin: %v, want blocked (no CORS for the admin API)", name, got[name])
		}
	}
	if got["publish"] != float64(http.StatusUnauthorized) {
		t.Errorf("publish from another origin with the session cookie: %v, want 401 (the session is not the page's)", got["publish"])
	}
	if got["ws"] != "refused" {
		t.Errorf("WebSocket from another origin with the session cookie: %v, want refused", got["ws"])
	}
	// What the server did, whatever the browser showed the page.
	if !clientListed(t, s, victim.ID, basicAuth("root", "root-pw")) {
		t.Error("the victim was kicked by the other port's page")
	}
	var retained struct{ Retained []struct{ Topic string } }
	adminGet(t, s, "retained", &retained, basicAuth("root", "root-pw"))
	for _, m := range retained.Retained {
		if m.Topic == "secret/evil" {
			t.Error("the other port's page published as the admin")
		}
	}
}

// TestAdminRefusesOtherOriginsAndHosts: with auth off (the loopback
// default) and cors.origins "*", a request of another origin's page (by
// Origin, another port included, or by Sec-Fetch-Site) is refused with 403
// JSON and no CORS headers, a preflight for a kick gets no permission, and
// a Host that is not the server's (DNS rebinding) gets 421. The server's
// own origin, and clients that send no Origin, pass.
func TestAdminRefusesOtherOriginsAndHosts(t *testing.T) {
	t.Parallel()
	s := testkit.Start(t, nil)
	_, port, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(port)
	other := "http://127.0.0.1:" + strconv.Itoa(n+1)
	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		want               int
		code               string
	}{
		{"no origin", "GET", "/v1/admin/config", nil, http.StatusOK, ""},
		{"own origin", "GET", "/v1/admin/config", map[string]string{"Origin": "http://" + s.Addr(), "Sec-Fetch-Site": "same-origin"}, http.StatusOK, ""},
		{"another port", "GET", "/v1/admin/config", map[string]string{"Origin": other}, http.StatusForbidden, "cross_origin"},
		{"another site", "DELETE", "/v1/admin/clients/1", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden, "cross_origin"},
		{"same-site fetch", "GET", "/v1/admin/clients", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden, "cross_origin"},
		{"preflight", "OPTIONS", "/v1/admin/clients/1", map[string]string{"Origin": "https://evil.example",
			"Access-Control-Request-Method": "DELETE"}, http.StatusForbidden, "cross_origin"},
		{"login from another port", "POST", "/v1/admin/login", map[string]string{"Origin": other}, http.StatusForbidden, "cross_origin"},
		{"rebound host", "GET", "/v1/admin/config", map[string]string{"Host": "evil.example"}, http.StatusMisdirectedRequest, "unknown_host"},
		{"rebound host, dashboard", "GET", "/", map[string]string{"Host": "evil.example:" + port}, http.StatusMisdirectedRequest, "unknown_host"},
		{"localhost", "GET", "/v1/admin/stats", map[string]string{"Host": "localhost:" + port}, http.StatusOK, ""},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), c.method, s.URL+c.path, strings.NewReader("{}"))
		for k, v := range c.header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.want)
		}
		if c.code != "" && !strings.Contains(string(body), `"`+c.code+`"`) {
			t.Errorf("%s: body %s, want error code %s", c.name, body, c.code)
		}
		if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
			t.Errorf("%s: Access-Control-Allow-Origin %q on an admin route", c.name, h)
		}
	}
}
