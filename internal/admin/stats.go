package admin

import (
	"context"
	"encoding/json"
	"runtime"
	"time"

	"streamhub/internal/core/message"
)

// StatsTopic is where the core publishes Stats, as JSON, for every
// protocol (readable by the admin role).
const StatsTopic = "$SYS/streamhub/stats"

// Stats is a snapshot of the server's numbers; rates are differences of
// two snapshots over their times.
type Stats struct {
	Time          time.Time      `json:"time"`
	Version       string         `json:"version"`
	Uptime        float64        `json:"uptime_seconds"`
	Connections   map[string]int `json:"connections"` // by transport
	MessagesIn    uint64         `json:"messages_in"`
	MessagesOut   uint64         `json:"messages_out"`
	Dropped       uint64         `json:"dropped"`
	SlowConsumers uint64         `json:"slow_consumers"`
	Subscriptions int            `json:"subscriptions"`
	Retained      int            `json:"retained"`
	QueuedBytes   int64          `json:"queued_bytes"`
	MemoryBytes   uint64         `json:"memory_bytes"` // obtained from the OS by the Go runtime
	HeapBytes     uint64         `json:"heap_bytes"`
	Goroutines    int            `json:"goroutines"`
	StoreBytes    uint64         `json:"store_bytes"`       // 0 without a data directory
	Cluster       *Cluster       `json:"cluster,omitempty"` // nil on a single node
}

// Cluster is a cluster node's view of its NATS connection (docs/CLUSTER.md).
type Cluster struct {
	Node          string   `json:"node"`
	NATSConnected bool     `json:"nats_connected"`
	NATSServer    string   `json:"nats_server,omitempty"` // the one connected to
	Peers         []string `json:"peers"`                 // the NATS servers known, configured and discovered
}

// Stats takes a snapshot.
func (a *API) Stats() Stats {
	now := time.Now()
	hs := a.deps.Hub.Stats()
	st := Stats{Time: now, Version: a.deps.Version, Uptime: now.Sub(a.deps.Started).Seconds(),
		Connections: a.deps.Registry.Counts(), Subscriptions: hs.Subscriptions, Retained: hs.Retained,
		QueuedBytes: hs.QueuedBytes, Goroutines: runtime.NumGoroutine()}
	if totals, err := a.deps.Counters.Totals(); err == nil {
		st.MessagesIn, st.MessagesOut, st.Dropped, st.SlowConsumers = totals.In, totals.Out, totals.Dropped, totals.SlowConsumers
	}
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	st.MemoryBytes, st.HeapBytes = mem.Sys, mem.HeapAlloc
	if a.deps.Store != nil {
		st.StoreBytes = a.deps.Store.DiskSize()
	}
	if a.deps.Cluster != nil {
		c := a.deps.Cluster()
		st.Cluster = &c
	}
	return st
}

// PublishStats publishes a snapshot on StatsTopic every interval until ctx
// ends, while some subscription's filter matches it: unread snapshots
// would only crowd the history window. Not retained: a retained message
// would be written to the store every interval; a new viewer reads GET
// /v1/admin/stats first.
func (a *API) PublishStats(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.deps.Hub.Watched(StatsTopic) {
			continue
		}
		payload, err := json.Marshal(a.Stats())
		if err != nil {
			a.log.Error("admin: stats", "err", err)
			continue
		}
		m := &message.Message{Topic: StatsTopic, Payload: payload, ContentType: "application/json"}
		if _, err := a.deps.Hub.Publish(ctx, m); err != nil && ctx.Err() == nil {
			a.log.Debug("admin: publish stats", "err", err)
		}
	}
}
