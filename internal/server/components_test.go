package server

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// recorder is a part that notes its starts and stops in a shared log.
type recorder struct {
	name string
	log  *[]string
	fail bool
}

func (r *recorder) Start(context.Context) error {
	if r.fail {
		*r.log = append(*r.log, "fail "+r.name)
		return errors.New("port taken")
	}
	*r.log = append(*r.log, "start "+r.name)
	return nil
}

func (r *recorder) Close() { *r.log = append(*r.log, "stop "+r.name) }

// TestComponentsOrder: parts start in the order added, after those built
// running; a part that fails to start stops every running one in reverse
// order and is not stopped itself, nor are the parts after it started; a
// stop stops the running ones in reverse, once.
func TestComponentsOrder(t *testing.T) {
	t.Parallel()
	var log []string
	var cs components
	cs.running("hub", func() { log = append(log, "stop hub") })
	cs.add("tcp", &recorder{name: "tcp", log: &log})
	cs.add("mqtt", &recorder{name: "mqtt", log: &log})
	cs.add("rtsp", &recorder{name: "rtsp", log: &log, fail: true})
	cs.add("http", &recorder{name: "http", log: &log})
	err := cs.start(context.Background())
	if err == nil || err.Error() != "server: start rtsp: port taken" {
		t.Fatalf("start: %v", err)
	}
	want := []string{"start tcp", "start mqtt", "fail rtsp", "stop mqtt", "stop tcp", "stop hub"}
	if !slices.Equal(log, want) {
		t.Fatalf("failed start:\n got %q\nwant %q", log, want)
	}
	cs.stop(context.Background()) // nothing runs any more
	if !slices.Equal(log, want) {
		t.Fatalf("a second stop stopped again: %q", log)
	}

	log = nil
	var ok components
	ok.running("store", func() { log = append(log, "stop store") })
	ok.add("tcp", &recorder{name: "tcp", log: &log})
	ok.add("http", &recorder{name: "http", log: &log})
	if err := ok.start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ok.stop(context.Background())
	ok.stop(context.Background())
	want = []string{"start tcp", "start http", "stop http", "stop tcp", "stop store"}
	if !slices.Equal(log, want) {
		t.Fatalf("start and shutdown:\n got %q\nwant %q", log, want)
	}
}
