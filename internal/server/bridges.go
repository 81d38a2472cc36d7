package server

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"streamhub/internal/bridge"
	"streamhub/internal/config"
	"streamhub/internal/core/hub"
	"streamhub/internal/metrics"
)

// Defaults of a bridge's keys left at zero (docs/BRIDGES.md).
const (
	bridgeKeepAlive     = 60 * time.Second
	bridgeSessionExpiry = 24 * time.Hour
	bridgeInflight      = 64
	bridgeQueue         = 10000
	bridgeQueueBytes    = 64 << 20
	bridgeBackoffMin    = time.Second
	bridgeBackoffMax    = 30 * time.Second
)

// newBridges builds the configured bridges. Each subscribes to its local
// topics at once, so what is published before it connects waits for it.
func (s *Server) newBridges() error {
	for _, bc := range s.cfg.Bridges {
		b, err := bridge.New(s.bridgeConfig(bc), s.hub, s.log)
		if err != nil {
			s.bridges.Close() // those built before it
			return fmt.Errorf("server: %w", err)
		}
		s.bridges = append(s.bridges, b)
	}
	s.parts.built("bridges", s.bridges)
	s.metrics.Bridges(func() []metrics.BridgeState {
		var out []metrics.BridgeState
		for _, st := range s.bridgeStatus() {
			out = append(out, metrics.BridgeState{Name: st.Name, Up: st.Up, In: st.In, Out: st.Out, Dropped: st.Dropped,
				Reconnects: st.Reconnects, Queued: st.Queued})
		}
		return out
	})
	return nil
}

// bridgeConfig fills in the defaults. Outgoing messages wait in the store
// when every local topic a bridge sends is durable.
func (s *Server) bridgeConfig(bc config.Bridge) bridge.Config {
	or := func(v, def time.Duration) time.Duration {
		if v == 0 {
			return def
		}
		return v
	}
	orInt := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	version, _ := config.BridgeVersion(bc.Version) // Validate checked it
	c := bridge.Config{Name: bc.Name, URL: bc.URL, Version: version, ClientID: bc.Clientid, Username: bc.Username,
		Password: bc.Password, CA: bc.CA, Cert: bc.Cert, Key: bc.Key, KeepAlive: or(bc.Keepalive, bridgeKeepAlive),
		CleanStart: bc.Cleanstart, SessionExpiry: or(bc.Sessionexpiry, bridgeSessionExpiry), Inflight: orInt(bc.Inflight, bridgeInflight),
		Queue:      hub.QueueLimits{Messages: orInt(bc.Queue, bridgeQueue), Bytes: orInt(bc.Queuebytes, bridgeQueueBytes)},
		BackoffMin: bridgeBackoffMin, BackoffMax: max(or(bc.Backoff, bridgeBackoffMax), bridgeBackoffMin)}
	if c.ClientID == "" {
		c.ClientID = "streamhub-" + bc.Name
	}
	route := func(t config.BridgeTopic) bridge.Route {
		m, _ := bridge.ParseMapping(t.Remote, t.Local) // Validate checked it
		return bridge.Route{Mapping: m, QoS: byte(t.QoS)}
	}
	c.Durable = s.store != nil && len(bc.Out) > 0
	for _, t := range bc.In {
		c.In = append(c.In, route(t))
	}
	for _, t := range bc.Out {
		r := route(t)
		c.Out = append(c.Out, r)
		c.Durable = c.Durable && s.store.Covered(r.Local)
	}
	if c.Durable {
		c.CursorFile = filepath.Join(s.cfg.Data, "bridges", bc.Name+".cursor")
	}
	return c
}

// bridgeSet is the server's bridges as one of its parts.
type bridgeSet []*bridge.Bridge

func (bs bridgeSet) Start(context.Context) error {
	for _, b := range bs {
		b.Start()
	}
	return nil
}

// Close disconnects the bridges, before the hub closes (they come after
// it in the server's parts), so that each keeps the cursor of what its
// remote acknowledged.
func (bs bridgeSet) Close() {
	for _, b := range bs {
		b.Close()
	}
}

// bridgeStatus lists the bridges' state in the configuration's order.
func (s *Server) bridgeStatus() []bridge.Status {
	out := make([]bridge.Status, 0, len(s.bridges))
	for _, b := range s.bridges {
		out = append(out, b.Status())
	}
	return out
}
