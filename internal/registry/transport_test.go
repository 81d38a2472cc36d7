package registry

import (
	"fmt"
	"testing"
)

type remoteQueue struct{ fakeQueue }

func (remoteQueue) Remote() string { return "10.0.0.1:1883" }

// TestTransportNamesAndIDs: the transport's name, kept as an index packed
// with the id, comes back for every entry of many transports, ids stay
// the registration's count, and a Remoter queue tells its address when
// the entry has none.
func TestTransportNamesAndIDs(t *testing.T) {
	r := New()
	var removes []func()
	for i := range 40 {
		removes = append(removes, r.Add(Conn{Transport: fmt.Sprintf("t%d", i%20), Remote: "x"}))
	}
	removes = append(removes, r.Add(Conn{Transport: "mqtt", Queue: remoteQueue{}}))
	list := r.List()
	if len(list) != 41 {
		t.Fatalf("%d listed, want 41", len(list))
	}
	counts := r.Counts()
	for i := range 20 {
		if n := counts[fmt.Sprintf("t%d", i)]; n != 2 {
			t.Errorf("transport t%d counted %d, want 2", i, n)
		}
	}
	for i, in := range list[:40] {
		if want := fmt.Sprintf("t%d", i%20); in.Transport != want || in.ID != fmt.Sprint(i+1) {
			t.Errorf("entry %d: transport %q id %s, want %q id %d", i, in.Transport, in.ID, want, i+1)
		}
	}
	if last := list[40]; last.Transport != "mqtt" || last.Remote != "10.0.0.1:1883" || last.ID != "41" {
		t.Errorf("the Remoter's entry: %+v", last)
	}
	for _, remove := range removes {
		remove()
	}
	if len(r.List()) != 0 {
		t.Error("entries left after removal")
	}
}
