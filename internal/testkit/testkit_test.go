package testkit

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"streamhub/internal/core/message"
)

// TestStartOnEachEngine: Start runs in memory as users do by default,
// StartOn gives the engine asked for, and EachEngine names its subtests
// after the engines.
func TestStartOnEachEngine(t *testing.T) {
	if s := Start(t, nil); s.Config.Data != "" || len(s.Config.Cluster.URLs) > 0 || s.Engine != Memory {
		t.Fatalf("Start: data %q, cluster %v, engine %q; want memory", s.Config.Data, s.Config.Cluster.URLs, s.Engine)
	}
	t.Run("each", func(t *testing.T) {
		EachEngine(t, func(t *testing.T, e Engine) {
			s := StartOn(t, e, nil)
			if _, err := s.Hub().Publish(context.Background(), &message.Message{Topic: "t", Payload: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			switch e {
			case Pebble:
				if _, err := os.Stat(filepath.Join(s.Config.Data, "store")); err != nil {
					t.Errorf("pebble: no store in the data directory: %v", err)
				}
			case JetStream:
				if len(s.Config.Cluster.URLs) != 1 || s.Config.Data != "" {
					t.Errorf("jetstream: cluster %v, data %q", s.Config.Cluster.URLs, s.Config.Data)
				}
			}
			if t.Name() != "TestStartOnEachEngine/each/"+string(e) {
				t.Errorf("subtest %q", t.Name())
			}
		}, Memory, Pebble, JetStream)
	})
}
