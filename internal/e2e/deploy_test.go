package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
	"streamhub/internal/webhook"
)

// deployDir is the operations kit: dashboard, alert rules, systemd unit.
const deployDir = "../../deploy"

// notYetRegistered lists prefixes of metrics that other components
// register once they are merged (helper branches of issue 28): a name
// with one of these prefixes that /metrics lacks is skipped, with a log
// line, instead of failing. The merger empties this list once the
// component is in; every name is then checked.
var notYetRegistered = []string{
	"streamhub_bridge_", // internal/bridge (MQTT bridges): streamhub_bridge_up{bridge}
}

var metricName = regexp.MustCompile(`\bstreamhub_[a-zA-Z0-9_]+`)

// TestDeployKitMetricsExist: every streamhub_* metric the Grafana
// dashboard and the Prometheus alert rules name is in /metrics of running
// servers: a single node with a data directory, a durable stream, a
// dialled TCP peer and a webhook, and a cluster node (the cluster's
// metrics) — so a renamed metric cannot leave a panel or an alert
// silently empty.
func TestDeployKitMetricsExist(t *testing.T) {
	t.Parallel()
	used := map[string][]string{} // name → files naming it
	for _, expr := range dashboardExprs(t) {
		for _, n := range metricName.FindAllString(expr, -1) {
			used[n] = appendNew(used[n], "grafana/streamhub.json")
		}
	}
	for _, expr := range alertExprs(t) {
		for _, n := range metricName.FindAllString(expr, -1) {
			used[n] = appendNew(used[n], "prometheus/streamhub-alerts.yml")
		}
	}
	if len(used) < 10 {
		t.Fatalf("only %d metric names found in the kit: is the parsing broken? %v", len(used), used)
	}

	recv := testkit.NewHookReceiver(t, "")
	single := testkit.StartOn(t, testkit.Pebble, func(c *config.Config) {
		c.Durable.Streams = []config.DurableStream{{Filter: "d/#"}}
		c.TCP.Outdial = []string{fmt.Sprintf("127.0.0.1:%d=d/#", testkit.FreePort(t))}
		c.Webhooks = []config.Webhook{{Name: "kit", URL: recv.URL, Events: []string{webhook.Connect}}}
	})
	nats := testkit.StartNATS(t)
	node := testkit.Start(t, func(c *config.Config) {
		c.Cluster.URLs, c.Cluster.Node = []string{nats.ClientURL()}, "kit-node"
	})

	allowed := func(n string) bool {
		return slices.ContainsFunc(notYetRegistered, func(p string) bool { return strings.HasPrefix(n, p) })
	}
	missing := func() []string {
		exposed := exposedNames(scrape(t, single.URL) + scrape(t, node.URL))
		var out []string
		for n := range used {
			if !exposed[n] && !allowed(n) {
				out = append(out, n)
			}
		}
		slices.Sort(out)
		return out
	}
	// A dialled peer's gauge appears with its first attempt.
	deadline := time.Now().Add(30 * time.Second)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, n := range missing() {
		t.Errorf("%s, named in deploy/%s, is not in /metrics", n, strings.Join(used[n], " and deploy/"))
	}
	exposed := exposedNames(scrape(t, single.URL) + scrape(t, node.URL))
	for n := range used {
		if !exposed[n] && allowed(n) {
			t.Logf("%s is not registered yet: skipped (notYetRegistered)", n)
		}
	}
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// exposedNames lists the metric names of a Prometheus text exposition.
func exposedNames(text string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		out[name] = true
	}
	return out
}

// dashboardExprs returns every query of the dashboard: panels' targets
// (rows' nested panels too) and template variables.
func dashboardExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "grafana/streamhub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string           `json:"title"`
		UID    string           `json:"uid"`
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/streamhub.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("grafana/streamhub.json: no title, uid or panels")
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var whole any
	_ = json.Unmarshal(b, &whole)
	walk(whole)
	ids := map[float64]bool{}
	for _, p := range dash.Panels {
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("grafana/streamhub.json: panel id %v twice", id)
		}
		ids[id] = true
	}
	return exprs
}

// alertExprs returns every rule's expression, checking that each alert
// has a severity and a summary.
func alertExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus/streamhub-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := yaml.Parser().Unmarshal(b)
	if err != nil {
		t.Fatalf("prometheus/streamhub-alerts.yml: %v", err)
	}
	var exprs []string
	groups, _ := doc["groups"].([]any)
	if len(groups) == 0 {
		t.Fatal("prometheus/streamhub-alerts.yml: no groups")
	}
	for _, g := range groups {
		rules, _ := g.(map[string]any)["rules"].([]any)
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			expr, _ := rule["expr"].(string)
			alert, _ := rule["alert"].(string)
			labels, _ := rule["labels"].(map[string]any)
			annotations, _ := rule["annotations"].(map[string]any)
			if expr == "" || alert == "" || labels["severity"] == nil || annotations["summary"] == nil {
				t.Errorf("prometheus/streamhub-alerts.yml: rule %v lacks alert, expr, labels.severity or annotations.summary", rule)
			}
			exprs = append(exprs, expr)
		}
	}
	return exprs
}

// TestDeploySystemdUnit: systemd-analyze verify accepts the unit (with
// ExecStart pointing at this run's binary, which it checks exists).
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH")
	}
	b, err := os.ReadFile(filepath.Join(deployDir, "systemd/streamhub.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=streamhub", "ProtectSystem=strict", "NoNewPrivileges=yes", "LimitNOFILE="} {
		if !strings.Contains(unit, "\n"+want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	path := filepath.Join(t.TempDir(), "streamhub.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/streamhub", cliPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "streamhub.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDeployPromQL: promtool accepts the alert rules, and the dashboard's
// queries as recording rules (Grafana's variables replaced), when it is on
// PATH (Debian's prometheus package has it).
func TestDeployPromQL(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH")
	}
	check := func(path string) {
		t.Helper()
		if out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", path).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", path, err, out)
		}
	}
	check(filepath.Join(deployDir, "prometheus/streamhub-alerts.yml"))
	grafana := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, expr := range dashboardExprs(t) {
		if strings.HasPrefix(expr, "label_values(") { // a Grafana function, not PromQL
			continue
		}
		q, _ := json.Marshal(grafana.Replace(expr)) // a JSON string is a YAML string
		fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", i, q)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	check(path)
}
