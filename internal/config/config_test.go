package config

import (
	"reflect"
	"testing"
	"time"
)

// TestExampleMatchesDefaults keeps the reference file in step with the code.
func TestExampleMatchesDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load("../../streamhub.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	// An empty YAML list decodes to an empty slice; Defaults leaves lists nil.
	nilEmptySlices(reflect.ValueOf(&got).Elem())
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Fatalf("streamhub.example.yaml differs from Defaults():\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Parallel()
	cfg, err := Load("", []string{
		"STREAMHUB_HTTP_ADDR=0.0.0.0:9000",
		"STREAMHUB_HISTORY_MESSAGES=5",
		"STREAMHUB_SSE_POLICY=drop-oldest",
		"STREAMHUB_POLL_TIMEOUT=5s",
		"STREAMHUB_CORS_ORIGINS=a.example,b.example",
		"STREAMHUB_CONFIG=/ignored",
		"STREAMHUB_DURABLE_STREAMS=a/# b/+",
		"OTHER=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "0.0.0.0:9000" || cfg.History.Messages != 5 || cfg.SSE.Policy != "drop-oldest" ||
		cfg.Poll.Timeout != 5*time.Second || len(cfg.CORS.Origins) != 2 || cfg.WS.Policy != "disconnect" ||
		len(cfg.Durable.Streams) != 2 || cfg.Durable.Streams[1].Filter != "b/+" {
		t.Fatalf("overrides not applied: %+v", cfg)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.HTTP.Addr = "nope"
	c.SSE.Policy = "maybe"
	c.HTTP.Cert = "x"
	if err := c.Validate(); err == nil {
		t.Fatal("invalid config accepted")
	}
}

func nilEmptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			nilEmptySlices(v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// TestClusterTakesDurableStreams: on a cluster, durable.streams name the
// topics stored in JetStream and need no data directory; a single node's
// still do.
func TestClusterTakesDurableStreams(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Data = ""
	c.Durable.Streams = []DurableStream{{Filter: "sensors/#"}}
	if err := c.Validate(); err == nil {
		t.Fatal("single-node durable streams without a data directory accepted")
	}
	c.Cluster.URLs, c.Cluster.Node = []string{"nats://127.0.0.1:4222"}, "a"
	if err := c.Validate(); err != nil {
		t.Fatalf("cluster with durable streams refused: %v", err)
	}
}
