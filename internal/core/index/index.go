// Package index is the subscription index: a trie over topic levels that
// finds every subscriber whose filter matches a topic, visiting only the
// trie nodes along the topic's levels and their `+` and `#` siblings, so the
// cost does not grow with the number of unrelated subscriptions.
//
// An Index is not safe for concurrent use; its owner serialises access.
package index

import "strings"

// Index maps filters to the subscribers of type T registered on them.
type Index[T comparable] struct {
	root  node[T]
	count int
}

type node[T comparable] struct {
	children map[string]*node[T] // literal levels
	wild     *wildcards[T]       // nil: neither wildcard level
	subs     Set[T]
}

// wildcards are a node's "+" and "#" levels, behind one pointer: most
// nodes (a device's own topic) have neither, and the node then fits the
// allocator's 48-byte class instead of 64.
type wildcards[T comparable] struct {
	plus *node[T] // the "+" level
	hash *node[T] // the "#" level
}

func (n *node[T]) plus() *node[T] {
	if n.wild == nil {
		return nil
	}
	return n.wild.plus
}

func (n *node[T]) hash() *node[T] {
	if n.wild == nil {
		return nil
	}
	return n.wild.hash
}

// Set is a set kept as a slice, iterated in the order added (a removal
// moves the last item into its place). Past indexedItems it also keeps
// the positions in a map, for lookups and removals in constant time;
// below, a scan of the slice is as quick, and a set of one (a device's own
// topic, a subscription's one filter) carries no map. The zero Set is
// empty.
type Set[T comparable] struct {
	list []T
	pos  map[T]int // nil while the set has held at most indexedItems
}

const indexedItems = 8

// Len is the number of items.
func (s *Set[T]) Len() int { return len(s.list) }

// Items are the set's items; the caller must not change them.
func (s *Set[T]) Items() []T { return s.list }

// Has reports whether t is in the set.
func (s *Set[T]) Has(t T) bool {
	_, ok := s.find(t)
	return ok
}

func (s *Set[T]) find(t T) (int, bool) {
	if s.pos != nil {
		i, ok := s.pos[t]
		return i, ok
	}
	for i, u := range s.list {
		if u == t {
			return i, true
		}
	}
	return 0, false
}

// Add adds t, reporting false if it was there already.
func (s *Set[T]) Add(t T) bool {
	if s.Has(t) {
		return false
	}
	s.list = append(s.list, t)
	switch n := len(s.list); {
	case s.pos != nil:
		s.pos[t] = n - 1
	case n > indexedItems:
		s.pos = make(map[T]int, n)
		for i, u := range s.list {
			s.pos[u] = i
		}
	}
	return true
}

// Remove removes t, reporting whether it was there.
func (s *Set[T]) Remove(t T) bool {
	i, ok := s.find(t)
	if !ok {
		return false
	}
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		if s.pos != nil {
			s.pos[s.list[i]] = i
		}
	}
	var zero T
	s.list[last] = zero
	s.list = s.list[:last]
	if s.pos != nil {
		delete(s.pos, t)
	}
	if len(s.list) == 0 {
		s.Clear()
	}
	return true
}

// Clear empties the set.
func (s *Set[T]) Clear() { s.list, s.pos = nil, nil }

func (n *node[T]) child(level string) *node[T] {
	switch level {
	case "+":
		return n.plus()
	case "#":
		return n.hash()
	}
	return n.children[level]
}

func (n *node[T]) addChild(level string) *node[T] {
	c := &node[T]{}
	switch level {
	case "+", "#":
		if n.wild == nil {
			n.wild = &wildcards[T]{}
		}
		if level == "+" {
			n.wild.plus = c
		} else {
			n.wild.hash = c
		}
	default:
		if n.children == nil {
			n.children = make(map[string]*node[T], 1)
		}
		n.children[level] = c
	}
	return c
}

func (n *node[T]) removeChild(level string) {
	switch level {
	case "+", "#":
		if n.wild == nil {
			return
		}
		if level == "+" {
			n.wild.plus = nil
		} else {
			n.wild.hash = nil
		}
		if n.wild.plus == nil && n.wild.hash == nil {
			n.wild = nil
		}
	default:
		delete(n.children, level)
	}
}

func (n *node[T]) empty() bool {
	return len(n.subs.list) == 0 && len(n.children) == 0 && n.wild == nil
}

// New returns an empty index.
func New[T comparable]() *Index[T] { return &Index[T]{} }

// Len is the number of (filter, subscriber) pairs held.
func (x *Index[T]) Len() int { return x.count }

// Add registers sub on filter; it reports false if the pair already existed.
func (x *Index[T]) Add(filter string, sub T) bool {
	n := &x.root
	for level := range strings.SplitSeq(filter, "/") {
		child := n.child(level)
		if child == nil {
			child = n.addChild(level)
		}
		n = child
	}
	if !n.subs.Add(sub) {
		return false
	}
	x.count++
	return true
}

// Remove unregisters sub from filter and prunes empty nodes; it reports
// whether the pair existed.
func (x *Index[T]) Remove(filter string, sub T) bool {
	levels := strings.Split(filter, "/")
	path := make([]*node[T], 0, len(levels)+1)
	n := &x.root
	path = append(path, n)
	for _, level := range levels {
		n = n.child(level)
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	if !n.subs.Remove(sub) {
		return false
	}
	x.count--
	for i := len(levels); i > 0; i-- {
		if !path[i].empty() {
			break
		}
		path[i-1].removeChild(levels[i-1])
	}
	return true
}

// Count is the number of subscribers registered on exactly filter.
func (x *Index[T]) Count(filter string) int {
	n := &x.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.child(level); n == nil {
			return 0
		}
	}
	return len(n.subs.list)
}

// Match calls fn for every subscriber with a filter matching topic name.
// A subscriber registered on several matching filters is reported once per
// filter; callers that want one delivery deduplicate.
func (x *Index[T]) Match(name string, fn func(T)) {
	// Filters starting with a wildcard do not match $-topics (MQTT 4.7.2).
	dollar := name != "" && name[0] == '$'
	x.root.match(name, dollar, fn)
}

func (n *node[T]) match(rest string, noWildcard bool, fn func(T)) {
	level, after, more := strings.Cut(rest, "/")
	if w := n.wild; w != nil && !noWildcard {
		if h := w.hash; h != nil {
			for _, s := range h.subs.list {
				fn(s)
			}
		}
		if c := w.plus; c != nil {
			c.visit(after, more, fn)
		}
	}
	if c := n.children[level]; c != nil {
		c.visit(after, more, fn)
	}
}

// visit continues a match at n, the node of one level of the name.
func (n *node[T]) visit(after string, more bool, fn func(T)) {
	if more {
		n.match(after, false, fn)
		return
	}
	for _, s := range n.subs.list {
		fn(s)
	}
	// "a/#" matches "a" too.
	if h := n.hash(); h != nil {
		for _, s := range h.subs.list {
			fn(s)
		}
	}
}
