package index

import (
	"fmt"
	"math/rand/v2"
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

// TestManySubscribersOnOneFilter adds and removes subscribers of one
// filter across the size where the set starts keeping positions, in an
// order that moves the last one into removed places, and checks the set
// against a model after each step.
func TestManySubscribersOnOneFilter(t *testing.T) {
	t.Parallel()
	x := New[string]()
	model := map[string]bool{}
	check := func(step string) {
		t.Helper()
		want := make([]string, 0, len(model))
		for s := range model {
			want = append(want, s)
		}
		slices.Sort(want)
		if got := collect(x, "a/b"); !slices.Equal(got, want) || x.Count("a/b") != len(want) || x.Len() != len(want) {
			t.Fatalf("%s: Match = %v (Count %d, Len %d), want %v", step, got, x.Count("a/b"), x.Len(), want)
		}
	}
	for round := range 2 {
		for i := range 3 * indexedItems {
			s := fmt.Sprint("s", i)
			if !x.Add("a/b", s) || x.Add("a/b", s) {
				t.Fatalf("round %d: Add(%s) should report a new pair once", round, s)
			}
			model[s] = true
			check("add " + s)
		}
		for _, i := range []int{0, 5, 23, 1, 12, 9, 2, 22, 3, 4, 6, 7, 8, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21} {
			s := fmt.Sprint("s", i)
			if !x.Remove("a/b", s) || x.Remove("a/b", s) {
				t.Fatalf("round %d: Remove(%s) should report an existing pair once", round, s)
			}
			delete(model, s)
			check("remove " + s)
		}
		if len(x.root.children) != 0 {
			t.Fatalf("round %d: empty branch not pruned", round)
		}
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

// TestSetAgreesWithMap runs random adds and removes, zero items among
// them, on a Set and on a map, and checks they agree after each; a set of
// one item other than the zero value keeps it in place.
func TestSetAgreesWithMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var s Set[int]
		model := map[int]bool{}
		for step := range 300 {
			v := rng.IntN(12) // 0, T's zero, is an item like any other
			var got, want bool
			if rng.IntN(2) == 0 {
				got, want = s.Add(v), !model[v]
				model[v] = true
			} else {
				got, want = s.Remove(v), model[v]
				delete(model, v)
			}
			if got != want {
				t.Fatalf("round %d step %d: op on %d reported %v, want %v", round, step, v, got, want)
			}
			if s.Len() != len(model) {
				t.Fatalf("round %d step %d: Len %d, want %d", round, step, s.Len(), len(model))
			}
			seen := map[int]bool{}
			for x := range s.All {
				if !model[x] || seen[x] {
					t.Fatalf("round %d step %d: All yielded %d (in the model: %v, twice: %v)", round, step, x, model[x], seen[x])
				}
				seen[x] = true
			}
			if len(seen) != len(model) {
				t.Fatalf("round %d step %d: All yielded %d items, want %d", round, step, len(seen), len(model))
			}
			for x := range 12 {
				if s.Has(x) != model[x] {
					t.Fatalf("round %d step %d: Has(%d) = %v", round, step, x, s.Has(x))
				}
			}
			if len(model) == 1 && !model[0] && s.many != nil {
				t.Fatalf("round %d step %d: a set of one keeps a slice", round, step)
			}
		}
	}
}
