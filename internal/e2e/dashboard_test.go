package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/eclipse/paho.golang/paho"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// dashboardBrowser opens Chromium on url with a phone-or-desktop viewport
// and collects console errors and uncaught exceptions.
func dashboardBrowser(t *testing.T, url string, width, height int64) (context.Context, func() []string) {
	t.Helper()
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe),
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Do(browser, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Listen(browser, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console.error: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(browser, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	return browser, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), problems...)
	}
}

func evalString(t *testing.T, browser context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(browser, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

func screenshot(t *testing.T, browser context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

// TestDashboard drives the dashboard in headless Chromium as a person
// would while MQTT clients publish: the page loads without console errors,
// the message rate and its chart move, the topic tree shows the topic, a
// numeric topic draws a chart, the publish form reaches mosquitto_sub,
// and the kick button disconnects an MQTT client (DISCONNECT 0x98).
func TestDashboard(t *testing.T) {
	mosquittoSub := mosquittoTool(t, "mosquitto_sub")
	s := testkit.Start(t, func(c *config.Config) { c.Admin.Stats = 200 * time.Millisecond })
	browser, problems := dashboardBrowser(t, s.URL+"/", 1280, 900)

	// A sensor publishing over MQTT every 20 ms.
	sensor, _ := connect5(t, s, "sensor", v5opts{clean: true})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			payload := strconv.FormatFloat(20+float64(i%50)/10, 'f', 1, 64)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = sensor.Publish(ctx, &paho.Publish{Topic: "iot/sensor/temperature", QoS: 0, Payload: []byte(payload)})
			cancel()
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Overview: the rate figure shows messages in, and its chart grows.
	testkit.Eventually(t, 20*time.Second, "a message rate above 0", func() bool {
		rate, err := strconv.ParseFloat(evalString(t, browser, `document.querySelector('#rate-in').textContent`), 64)
		return err == nil && rate > 0
	})
	first := evalString(t, browser, `document.querySelector('#chart-rates').dataset.points`)
	testkit.Eventually(t, 10*time.Second, "the rate chart to grow", func() bool {
		return evalString(t, browser, `document.querySelector('#chart-rates').dataset.points`) != first
	})
	screenshot(t, browser, "overview.png")

	// Topics: the tree shows the topic; tailing it draws a chart with points.
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tabs button[data-tab=topics]`))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the topic in the tree", func() bool {
		return evalString(t, browser, `(document.querySelector('#tree [data-topic="iot/sensor/temperature"]') || {}).textContent || ''`) != ""
	})
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tree [data-topic="iot/sensor/temperature"] > .name`))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "a numeric chart with points", func() bool {
		n, _ := strconv.Atoi(evalString(t, browser,
			`(document.querySelector('#charts canvas[data-series="iot/sensor/temperature"]') || {dataset: {points: '0'}}).dataset.points`))
		return n >= 5
	})
	screenshot(t, browser, "topics.png")

	// Publish: the form's message reaches mosquitto_sub.
	sub := exec.CommandContext(t.Context(), mosquittoSub, "-p", mqttPort(s), "-t", "dash/form", "-C", "1", "-W", "20")
	out := &strings.Builder{}
	sub.Stdout = out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	s.WaitSubscribers(t, "dash/form", 1)
	if err := chromedp.Do(browser,
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab=publish]`)),
		chromedp.SetValue(chromedp.CSS(`#publish-form [name=topic]`), "dash/form"),
		chromedp.SetValue(chromedp.CSS(`#publish-form [name=payload]`), `{"from": "the dashboard"}`),
		chromedp.Click(chromedp.CSS(`#publish-form [value=json]`)),
		chromedp.Click(chromedp.CSS(`#publish-form button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if got := strings.TrimSpace(out.String()); got != `{"from": "the dashboard"}` {
		t.Errorf("mosquitto_sub got %q", got)
	}

	// Clients: searching finds the victim; its kick button disconnects it.
	reasons := make(chan byte, 1)
	victim, _ := connect5(t, s, "victim", v5opts{clean: true, onDisconnect: func(d *paho.Disconnect) { reasons <- d.ReasonCode }})
	subscribe5(t, victim, paho.SubscribeOptions{Topic: "victim/inbox", QoS: 1})
	if err := chromedp.Do(browser,
		chromedp.Click(chromedp.CSS(`#tabs button[data-tab=clients]`)),
		chromedp.SendKeys(chromedp.CSS(`#client-search`), "victim/inbox"),
	); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the victim alone in the client list", func() bool {
		return evalString(t, browser, `String(document.querySelectorAll('#client-table tbody tr').length)`) == "1"
	})
	screenshot(t, browser, "clients.png")
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#client-table tbody button.kick`))); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-reasons:
		if r != 0x98 {
			t.Errorf("DISCONNECT %#x, want 0x98", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the kicked client was not disconnected")
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("console errors: %s", strings.Join(p, "; "))
	}
	// TEST_DOCS_SCREENSHOT=$PWD/docs/dashboard.png refreshes the README's picture.
	if dest := os.Getenv("TEST_DOCS_SCREENSHOT"); dest != "" {
		if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tabs button[data-tab=overview]`))); err != nil {
			t.Fatal(err)
		}
		png, err := os.ReadFile(screenshot(t, browser, "dashboard.png"))
		if err == nil {
			err = os.WriteFile(dest, png, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// TestDashboardLogin: with auth on, the dashboard asks to sign in; a user
// without the admin role is refused, an admin gets in and sees live numbers.
func TestDashboardLogin(t *testing.T) {
	s := securedServer(t)
	browser, problems := dashboardBrowser(t, s.URL+"/", 390, 844) // a phone
	visible := func(sel string) bool {
		return evalString(t, browser, `String(!document.querySelector('`+sel+`').hidden)`) == "true"
	}
	testkit.Eventually(t, 10*time.Second, "the sign-in form", func() bool { return visible("#login") })
	signIn := func(user, password string) {
		t.Helper()
		if err := chromedp.Do(browser,
			chromedp.SetValue(chromedp.CSS(`#login-form [name=user]`), user),
			chromedp.SetValue(chromedp.CSS(`#login-form [name=password]`), password),
			chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)),
		); err != nil {
			t.Fatal(err)
		}
	}
	signIn("alice", "alice-pw")
	testkit.Eventually(t, 10*time.Second, "alice refused for want of the admin role", func() bool {
		return strings.Contains(evalString(t, browser, `document.querySelector('#login-error').textContent`), "admin role")
	})
	screenshot(t, browser, "login-refused.png")
	if visible("#app") {
		t.Error("the dashboard is shown to a non-admin")
	}
	signIn("root", "root-pw")
	testkit.Eventually(t, 10*time.Second, "the dashboard for the admin, with live numbers", func() bool {
		return visible("#app") && !visible("#login") && evalString(t, browser, `document.querySelector('#uptime').textContent`) != "–" &&
			evalString(t, browser, `String(document.querySelector('#live').classList.contains('on'))`) == "true"
	})
	screenshot(t, browser, "phone.png")
	// The initial 401 of the signed-out page is the only complaint allowed.
	for _, p := range problems() {
		if !strings.Contains(p, "401") {
			t.Errorf("console: %s", p)
		}
	}
}
