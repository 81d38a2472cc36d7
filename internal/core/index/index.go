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

// Set is a set of items iterated in the order added (a removal moves the
// last item into its place). Most sets hold one item (a device's own
// topic's subscriber, a subscription's one filter): that one is kept in
// place, with nothing allocated beside it. More go to a slice, and past
// indexedItems their positions to a map too, for lookups and removals in
// constant time; below, a scan of the slice is as quick. The zero Set is
// empty.
type Set[T comparable] struct {
	// one is the item of a set of one, unless it is T's zero value (then
	// in many, like every item of a larger set; one is zero then).
	one  T
	many *manyItems[T] // nil: at most one item, in one
}

// manyItems are the items of a set of more than one.
type manyItems[T comparable] struct {
	list []T
	pos  map[T]int // nil while the set has held at most indexedItems
}

const indexedItems = 8

// Len is the number of items.
func (s *Set[T]) Len() int {
	var zero T
	switch {
	case s.many != nil:
		return len(s.many.list)
	case s.one != zero:
		return 1
	}
	return 0
}

// All yields the set's items; the caller must not change the set meanwhile.
func (s *Set[T]) All(yield func(T) bool) {
	var zero T
	switch {
	case s.many != nil:
		for _, t := range s.many.list {
			if !yield(t) {
				return
			}
		}
	case s.one != zero:
		yield(s.one)
	}
}

// Has reports whether t is in the set.
func (s *Set[T]) Has(t T) bool {
	if s.many == nil {
		var zero T
		return t != zero && s.one == t
	}
	_, ok := s.many.find(t)
	return ok
}

func (m *manyItems[T]) find(t T) (int, bool) {
	if m.pos != nil {
		i, ok := m.pos[t]
		return i, ok
	}
	for i, u := range m.list {
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
	var zero T
	if s.many == nil {
		if s.one == zero && t != zero {
			s.one = t
			return true
		}
		s.many = &manyItems[T]{}
		if s.one != zero {
			s.many.list = append(s.many.list, s.one)
			s.one = zero
		}
	}
	m := s.many
	m.list = append(m.list, t)
	switch n := len(m.list); {
	case m.pos != nil:
		m.pos[t] = n - 1
	case n > indexedItems:
		m.pos = make(map[T]int, n)
		for i, u := range m.list {
			m.pos[u] = i
		}
	}
	return true
}

// Remove removes t, reporting whether it was there.
func (s *Set[T]) Remove(t T) bool {
	var zero T
	if s.many == nil {
		if t == zero || s.one != t {
			return false
		}
		s.one = zero
		return true
	}
	m := s.many
	i, ok := m.find(t)
	if !ok {
		return false
	}
	last := len(m.list) - 1
	if i != last {
		m.list[i] = m.list[last]
		if m.pos != nil {
			m.pos[m.list[i]] = i
		}
	}
	m.list[last] = zero
	m.list = m.list[:last]
	if m.pos != nil {
		delete(m.pos, t)
	}
	switch {
	case len(m.list) == 0:
		s.Clear()
	case len(m.list) == 1 && m.list[0] != zero:
		// Back to one, kept in place: the slice and its array go.
		s.one, s.many = m.list[0], nil
	}
	return true
}

// Clear empties the set.
func (s *Set[T]) Clear() { *s = Set[T]{} }

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
	return n.subs.Len() == 0 && len(n.children) == 0 && n.wild == nil
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
	return n.subs.Len()
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
			for s := range h.subs.All {
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
	for s := range n.subs.All {
		fn(s)
	}
	// "a/#" matches "a" too.
	if h := n.hash(); h != nil {
		for s := range h.subs.All {
			fn(s)
		}
	}
}
