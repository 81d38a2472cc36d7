package index

import (
	"fmt"
	"slices"
	"testing"

	"streamhub/internal/core/topic"
)

func collect(x *Index[string], name string) []string {
	var got []string
	x.Match(name, func(s string) { got = append(got, s) })
	slices.Sort(got)
	return got
}

func TestMatchAgreesWithTopicMatch(t *testing.T) {
	t.Parallel()
	filters := []string{"#", "+", "iot/#", "iot/+/temperature", "iot/sensor/temperature", "+/+/+",
		"$SYS/#", "$SYS/+", "a/+", "/+", "+/#", "a//b", "a/+/b", "iot"}
	names := []string{"iot", "iot/sensor/temperature", "iot/x/temperature", "$SYS/uptime", "a/", "a/b",
		"/a", "a//b", "x/y/z", "iot/sensor"}
	x := New[string]()
	for _, f := range filters {
		x.Add(f, f)
	}
	for _, n := range names {
		var want []string
		for _, f := range filters {
			if topic.Match(f, n) {
				want = append(want, f)
			}
		}
		slices.Sort(want)
		if got := collect(x, n); !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %v, want %v", n, got, want)
		}
	}
}

func TestAddRemovePrunes(t *testing.T) {
	t.Parallel()
	x := New[string]()
	if !x.Add("a/b/c", "s1") || x.Add("a/b/c", "s1") {
		t.Fatal("Add should report new pairs only")
	}
	x.Add("a/+", "s2")
	if !x.Remove("a/b/c", "s1") || x.Remove("a/b/c", "s1") {
		t.Fatal("Remove should report existing pairs only")
	}
	if _, ok := x.root.children["a"].children["b"]; ok {
		t.Fatal("empty branch a/b not pruned")
	}
	x.Remove("a/+", "s2")
	if len(x.root.children) != 0 || x.Len() != 0 {
		t.Fatalf("index not empty: %d", x.Len())
	}
}

// Subscribers of one filter are kept in a list up to subscribersListMax
// and with a map of positions past it: adding and removing them in any
// order, across that threshold both ways, matches exactly those left.
func TestManySubscribersOfOneFilter(t *testing.T) {
	t.Parallel()
	x := New[string]()
	want := map[string]bool{}
	check := func(step string) {
		t.Helper()
		got := collect(x, "a/b")
		if len(got) != len(want) {
			t.Fatalf("%s: %d matched, want %d", step, len(got), len(want))
		}
		for _, s := range got {
			if !want[s] {
				t.Fatalf("%s: %q matched, not subscribed", step, s)
			}
		}
	}
	const n = 3 * subscribersListMax
	for i := range n {
		s := fmt.Sprintf("s%d", i)
		if !x.Add("a/b", s) || x.Add("a/b", s) {
			t.Fatalf("Add %s: not new exactly once", s)
		}
		want[s] = true
		check(fmt.Sprintf("after adding %s", s))
	}
	for _, i := range []int{0, n - 1, n / 2, 1, n - 2} { // front, back, middle
		s := fmt.Sprintf("s%d", i)
		if !x.Remove("a/b", s) || x.Remove("a/b", s) {
			t.Fatalf("Remove %s: not removed exactly once", s)
		}
		delete(want, s)
		check(fmt.Sprintf("after removing %s", s))
	}
	for s := range want {
		x.Remove("a/b", s)
		delete(want, s)
		check(fmt.Sprintf("after removing %s", s))
	}
	if x.Len() != 0 || len(x.root.children) != 0 {
		t.Fatalf("index not empty: %d", x.Len())
	}
}

// TestMillionUnrelatedSubscriptions checks that a million subscriptions on
// unrelated topics neither change the result nor the work of a match: the
// match visits the same number of subscribers as with none of them.
func TestMillionUnrelatedSubscriptions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a million-entry index")
	}
	x := New[int]()
	x.Add("iot/+/temperature", -1)
	x.Add("iot/#", -2)
	for i := range 1_000_000 {
		x.Add(fmt.Sprintf("dev/%d/state", i), i)
	}
	visits := 0
	x.Match("iot/sensor/temperature", func(int) { visits++ })
	if visits != 2 {
		t.Fatalf("visited %d subscribers, want 2", visits)
	}
	visits = 0
	x.Match("dev/123456/state", func(s int) {
		visits++
		if s != 123456 {
			t.Errorf("matched %d", s)
		}
	})
	if visits != 1 {
		t.Fatalf("visited %d subscribers, want 1", visits)
	}
}

func BenchmarkMatchMillionSubscriptions(b *testing.B) {
	x := New[int]()
	for i := range 1_000_000 {
		x.Add(fmt.Sprintf("dev/%d/state", i), i)
	}
	x.Add("dev/+/state", -1)
	x.Add("dev/#", -2)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		x.Match("dev/4242/state", func(int) { n++ })
	}
	_ = n
}

func BenchmarkMatchSmallIndex(b *testing.B) {
	x := New[int]()
	x.Add("dev/4242/state", 1)
	x.Add("dev/+/state", -1)
	x.Add("dev/#", -2)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		x.Match("dev/4242/state", func(int) { n++ })
	}
	_ = n
}
