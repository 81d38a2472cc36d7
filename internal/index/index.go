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
	children map[string]*node[T]
	subs     map[T]struct{}
}

// New returns an empty index.
func New[T comparable]() *Index[T] { return &Index[T]{} }

// Len is the number of (filter, subscriber) pairs held.
func (x *Index[T]) Len() int { return x.count }

// Add registers sub on filter; it reports false if the pair already existed.
func (x *Index[T]) Add(filter string, sub T) bool {
	n := &x.root
	for level := range strings.SplitSeq(filter, "/") {
		child := n.children[level]
		if child == nil {
			if n.children == nil {
				n.children = make(map[string]*node[T], 1)
			}
			child = &node[T]{}
			n.children[level] = child
		}
		n = child
	}
	if _, ok := n.subs[sub]; ok {
		return false
	}
	if n.subs == nil {
		n.subs = make(map[T]struct{}, 1)
	}
	n.subs[sub] = struct{}{}
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
		n = n.children[level]
		if n == nil {
			return false
		}
		path = append(path, n)
	}
	if _, ok := n.subs[sub]; !ok {
		return false
	}
	delete(n.subs, sub)
	x.count--
	for i := len(levels); i > 0; i-- {
		child := path[i]
		if len(child.subs) > 0 || len(child.children) > 0 {
			break
		}
		delete(path[i-1].children, levels[i-1])
	}
	return true
}

// Count is the number of subscribers registered on exactly filter.
func (x *Index[T]) Count(filter string) int {
	n := &x.root
	for level := range strings.SplitSeq(filter, "/") {
		if n = n.children[level]; n == nil {
			return 0
		}
	}
	return len(n.subs)
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
	if len(n.children) == 0 {
		return
	}
	level, after, more := strings.Cut(rest, "/")
	if !noWildcard {
		if h := n.children["#"]; h != nil {
			for s := range h.subs {
				fn(s)
			}
		}
	}
	visit := func(child *node[T]) {
		if more {
			child.match(after, false, fn)
			return
		}
		for s := range child.subs {
			fn(s)
		}
		// "a/#" matches "a" too.
		if h := child.children["#"]; h != nil {
			for s := range h.subs {
				fn(s)
			}
		}
	}
	if c := n.children[level]; c != nil {
		visit(c)
	}
	if !noWildcard {
		if c := n.children["+"]; c != nil {
			visit(c)
		}
	}
}
