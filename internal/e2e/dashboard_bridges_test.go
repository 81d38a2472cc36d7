package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestDashboardBridges: the dashboard's Bridges tab shows a bridge to
// Mosquitto up, then down once Mosquitto stops, without console errors.
func TestDashboardBridges(t *testing.T) {
	mq := testkit.StartMosquitto(t, testkit.MosquittoOptions{})
	s := testkit.Start(t, func(c *config.Config) {
		c.Bridges = []config.Bridge{{Name: "site1", URL: mq.URL(),
			Out: []config.BridgeTopic{{Local: "sensors/#", Remote: "site1/sensors/#", QoS: 1}}}}
	})
	browser, problems := dashboardBrowser(t, s.URL+"/", 1280, 900)
	if err := chromedp.Do(browser, chromedp.Click(chromedp.CSS(`#tabs button[data-tab=bridges]`))); err != nil {
		t.Fatal(err)
	}
	state := `(document.querySelector('#bridge-table tr[data-bridge=site1] td:nth-child(4)') || {}).textContent || ''`
	testkit.Eventually(t, 20*time.Second, "the bridge shown up", func() bool {
		v := evalString(t, browser, state)
		return len(v) > 2 && v[:2] == "up"
	})
	screenshot(t, browser, "bridges.png")
	mq.Stop()
	testkit.Eventually(t, 20*time.Second, "the bridge shown down", func() bool {
		v := evalString(t, browser, state)
		return len(v) > 4 && v[:4] == "down"
	})
	if p := problems(); len(p) > 0 {
		t.Errorf("browser problems: %v", p)
	}
}
