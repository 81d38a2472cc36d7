package hub

import (
	"fmt"
	"slices"
	"testing"
)

// The set answers the same whether its filters are in the list or, past
// filterSetListMax, in the map, and across the move between them.
func TestFilterSetListAndMap(t *testing.T) {
	var fs filterSet
	want := map[string]bool{}
	check := func(step string) {
		t.Helper()
		if fs.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, fs.len(), len(want))
		}
		for f := range want {
			if !fs.has(f) {
				t.Fatalf("%s: %q missing", step, f)
			}
		}
		got := slices.Sorted(fs.all())
		if len(got) != len(want) {
			t.Fatalf("%s: all yields %v", step, got)
		}
	}
	for i := range 3 * filterSetListMax {
		f := fmt.Sprintf("a/%d", i)
		if !fs.add(f) {
			t.Fatalf("add %q: not new", f)
		}
		if fs.add(f) {
			t.Fatalf("add %q twice: new again", f)
		}
		want[f] = true
		check(fmt.Sprintf("after adding %d", i+1))
	}
	if fs.has("b") || fs.remove("b") {
		t.Fatal("an absent filter found")
	}
	for i := range 3 * filterSetListMax {
		f := fmt.Sprintf("a/%d", i)
		if !fs.remove(f) || fs.remove(f) {
			t.Fatalf("remove %q: not removed exactly once", f)
		}
		delete(want, f)
		check(fmt.Sprintf("after removing %d", i+1))
	}
	fs.add("x")
	fs.clear()
	if fs.len() != 0 || fs.has("x") {
		t.Fatal("clear left filters")
	}
}

func TestFilterSetListRemoveKeepsOthers(t *testing.T) {
	var fs filterSet
	for _, f := range []string{"a", "b", "c"} {
		fs.add(f)
	}
	fs.remove("b")
	if got := slices.Collect(fs.all()); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("after removing b: %v", got)
	}
}
