package config

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestBridgeKeysNamed: each broken key of a bridge gives one KeyError
// naming bridges[I].KEY.
func TestBridgeKeysNamed(t *testing.T) {
	t.Parallel()
	good := func() Bridge {
		return Bridge{Name: "site1", URL: "mqtt://127.0.0.1:1883",
			In:  []BridgeTopic{{Remote: "site1/#", Local: "sites/1/#", QoS: 1}},
			Out: []BridgeTopic{{Local: "cmd/1/#", Remote: "site1/cmd/#", QoS: 1}}}
	}
	for _, tc := range []struct {
		key     string
		breakIt func(*Bridge)
	}{
		{"bridges[0].name", func(b *Bridge) { b.Name = "a b" }},
		{"bridges[0].url", func(b *Bridge) { b.URL = "127.0.0.1:1883" }},
		{"bridges[0].url", func(b *Bridge) { b.URL = "http://127.0.0.1:1883" }},
		{"bridges[0].version", func(b *Bridge) { b.Version = "3.1" }},
		{"bridges[0].cert", func(b *Bridge) { b.Cert = "c.pem" }},
		{"bridges[0].keepalive", func(b *Bridge) { b.Keepalive = -time.Second }},
		{"bridges[0].keepalive", func(b *Bridge) { b.Keepalive = 70000 * time.Second }},
		{"bridges[0].inflight", func(b *Bridge) { b.Inflight = -1 }},
		{"bridges[0].queue", func(b *Bridge) { b.Queue = -1 }},
		{"bridges[0].backoff", func(b *Bridge) { b.Backoff = -1 }},
		{"bridges[0].in", func(b *Bridge) { b.In, b.Out = nil, nil }},
		{"bridges[0].in[0]", func(b *Bridge) { b.In[0].Local = "sites/+/x" }},
		{"bridges[0].in[0]", func(b *Bridge) { b.In[0].Remote = "a/#/b" }},
		{"bridges[0].out[0]", func(b *Bridge) { b.Out[0].Remote = "+/cmd/#" }},
		{"bridges[0].out[0].qos", func(b *Bridge) { b.Out[0].QoS = 3 }},
	} {
		c := Defaults()
		b := good()
		tc.breakIt(&b)
		c.Bridges = []Bridge{b}
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: broken, and accepted", tc.key)
			continue
		}
		if keys := invalidKeys(t, err); !slices.Equal(keys, []string{tc.key}) {
			t.Errorf("%s: the error names %q (%v)", tc.key, keys, err)
		}
	}
	c := Defaults()
	c.Bridges = []Bridge{good(), good()}
	if keys := invalidKeys(t, c.Validate()); !slices.Equal(keys, []string{"bridges[1].name"}) {
		t.Errorf("a name used twice: keys %q", keys)
	}
	c.Bridges = []Bridge{good()}
	if err := c.Validate(); err != nil {
		t.Errorf("a good bridge refused: %v", err)
	}
}

// TestBridgeFromYAML: a bridge as the reference file documents it loads,
// unknown keys inside one are refused by name.
func TestBridgeFromYAML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	yaml := `bridges:
  - name: site1
    url: mqtts://broker.example:8883
    version: "5"
    keepalive: 30s
    in:
      - {remote: site1/#, local: sites/1/#, qos: 1}
    out:
      - {local: cmd/1/#, remote: site1/cmd/#, qos: 2}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	b := c.Bridges[0]
	if b.Name != "site1" || b.Version != "5" || b.Keepalive != 30*time.Second || b.In[0].Local != "sites/1/#" || b.Out[0].QoS != 2 {
		t.Fatalf("loaded %+v", b)
	}
	if err := os.WriteFile(path, []byte("bridges:\n  - name: x\n    urll: mqtt://h:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil {
		t.Fatal("an unknown key inside a bridge was accepted")
	}
}
