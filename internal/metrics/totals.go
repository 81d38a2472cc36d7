package metrics

import (
	"fmt"

	dto "github.com/prometheus/client_model/go"
)

// Totals are the counters a dashboard shows, summed over transports.
type Totals struct {
	In, Out       uint64 // messages published and delivered
	Dropped       uint64 // messages dropped from full queues
	SlowConsumers uint64 // subscribers disconnected for a full queue
}

// Totals reads the current counters.
func (m *Metrics) Totals() (Totals, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return Totals{}, fmt.Errorf("metrics: gather: %w", err)
	}
	var t Totals
	for _, f := range families {
		var into *uint64
		switch f.GetName() {
		case "streamhub_messages_in_total":
			into = &t.In
		case "streamhub_messages_out_total":
			into = &t.Out
		case "streamhub_messages_dropped_total":
			into = &t.Dropped
		case "streamhub_slow_consumer_disconnects_total":
			into = &t.SlowConsumers
		default:
			continue
		}
		*into = sumCounters(f.GetMetric())
	}
	return t, nil
}

func sumCounters(ms []*dto.Metric) uint64 {
	var sum float64
	for _, m := range ms {
		sum += m.GetCounter().GetValue()
	}
	return uint64(sum)
}
