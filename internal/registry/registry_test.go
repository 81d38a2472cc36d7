package registry

import (
	"testing"
)

type fakeQueue struct{}

func (fakeQueue) Filters() []string { return []string{"a/#"} }
func (fakeQueue) Queued() int       { return 3 }
func (fakeQueue) Dropped() uint64   { return 7 }

func TestRegistryLifecycle(t *testing.T) {
	r := New()
	kicked := 0
	removeA := r.Add(Conn{Transport: "sse", Remote: "1.2.3.4:5", Queue: fakeQueue{}, Kick: func() { kicked++ }})
	removeB := r.Add(Conn{Transport: "tcp-in", Remote: "1.2.3.4:6"})
	list := r.List()
	if len(list) != 2 || list[0].Transport != "sse" || list[0].Queued != 3 || list[0].Dropped != 7 || list[0].Filters[0] != "a/#" {
		t.Fatalf("list: %+v", list)
	}
	if list[1].Filters == nil {
		t.Error("filters of a connection without a queue are nil, want [] in JSON")
	}
	if c := r.Counts(); c["sse"] != 1 || c["tcp-in"] != 1 {
		t.Errorf("counts %v", c)
	}
	if !r.Kick(list[0].ID) || kicked != 1 {
		t.Errorf("kick: kicked %d", kicked)
	}
	if r.Kick(list[1].ID) {
		t.Error("kicked a connection without a kick func")
	}
	removeA()
	removeB()
	if len(r.List()) != 0 || r.Kick(list[0].ID) {
		t.Error("removed connections still listed")
	}
}

func TestNilRegistry(t *testing.T) {
	var r *Registry
	r.Add(Conn{Transport: "sse"})()
	if r.List() != nil || len(r.Counts()) != 0 || r.Kick("1") {
		t.Error("a nil registry holds something")
	}
}

// TestListsMediaAndIDs: a media connection's path and role are listed
// (kept apart from the rest of the entry), others have none; ids are
// listed as decimal numbers and Kick finds a connection only by the id
// as listed.
func TestListsMediaAndIDs(t *testing.T) {
	r := New()
	kicked := 0
	defer r.AddMedia(nil, "rtsp", "1.2.3.4:5", "cam/1", true, func() { kicked++ })()
	defer r.Add(Conn{Transport: "mqtt", ClientID: "dev1", Remote: "1.2.3.4:6"})()
	list := r.List()
	if len(list) != 2 {
		t.Fatalf("list: %+v", list)
	}
	media, mqtt := list[0], list[1]
	if media.Path != "cam/1" || media.Role != RolePublisher || mqtt.Path != "" || mqtt.Role != "" || mqtt.ClientID != "dev1" {
		t.Errorf("listed %+v and %+v", media, mqtt)
	}
	if media.ID != "1" || mqtt.ID != "2" || media.Since.IsZero() {
		t.Errorf("ids %q, %q, since %v", media.ID, mqtt.ID, media.Since)
	}
	for _, id := range []string{"01", "+1", "1 ", "", "x", "18446744073709551617"} {
		if r.Kick(id) {
			t.Errorf("Kick(%q) found a connection", id)
		}
	}
	if !r.Kick("1") || kicked != 1 {
		t.Errorf("Kick(\"1\"): kicked %d", kicked)
	}
}
