package server

import (
	"fmt"

	"streamhub/internal/metrics"
	"streamhub/internal/webhook"
)

// newWebhooks starts the webhooks (docs/WEBHOOKS.md): their queues in the
// store when there is one, their events from the registry (connections of
// every protocol) and the hub (subscribes, publishes, media paths), their
// state in the metrics and the admin API. Shutdown closes them before the
// store (closeStore).
func (s *Server) newWebhooks() error {
	cfg := webhook.Config{Hooks: s.cfg.Hooks(), Node: s.cfg.Cluster.Node, Version: Version}
	if s.store != nil {
		cfg.Store = s.store
	}
	m, err := webhook.New(cfg, s.log.With("component", "webhook"))
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := m.Start(s.hub, s.registry); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.webhooks = m
	s.parts.running("webhooks", m.Close)
	s.metrics.Webhooks(func() []metrics.WebhookState {
		states := m.States()
		out := make([]metrics.WebhookState, 0, len(states))
		for _, st := range states {
			ms := metrics.WebhookState{Name: st.Name, Queued: st.Queued, Delivered: st.Delivered, Failed: st.Failed,
				Retries: st.Retries, Dropped: st.Dropped}
			if st.Oldest != nil {
				ms.Oldest = *st.Oldest
			}
			out = append(out, ms)
		}
		return out
	})
	return nil
}
