package local_test

import (
	"context"
	"testing"
	"time"

	"streamhub/internal/core/engine"
	"streamhub/internal/core/engine/local"
)

// TestPlaceInMemory: the engine without a store keeps nothing past the
// hub's windows (which hold everything after upTo): a start before them
// is a gap and is read from the windows, not replayed; a time or a count
// starts before everything.
func TestPlaceInMemory(t *testing.T) {
	e := local.New(nil, nil)
	const upTo = 5
	for _, c := range []struct {
		name string
		from engine.From
		want engine.Placed
	}{
		{"cursor before the windows", engine.From{After: 3}, engine.Placed{After: 3, Gap: true}},
		{"cursor where the windows begin", engine.From{After: upTo}, engine.Placed{After: upTo}},
		{"time", engine.From{Since: time.Now()}, engine.Placed{After: 0, Gap: true}},
		{"count", engine.From{Last: 2}, engine.Placed{After: 0, Gap: true}},
	} {
		got, err := e.Place(context.Background(), []string{"#"}, c.from, upTo)
		if err != nil || got != c.want {
			t.Errorf("%s: placed %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if e.Durable("t") || e.CheckName("t") != nil || e.CheckFilter("#") != nil {
		t.Error("in memory: nothing durable, every name carried")
	}
	msgs, last, done, err := e.Replay(context.Background(), []string{"#"}, 0, upTo, 10)
	if len(msgs) != 0 || last != upTo || !done || err != nil {
		t.Errorf("replay in memory: %d messages, last %d, done %v, %v", len(msgs), last, done, err)
	}
}
