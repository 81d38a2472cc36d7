package hub

import "strings"

// filterSet is a subscription's filters. Most subscriptions have one or a
// few, so it is a slice, with a map of positions only past
// indexedFilters (an MQTT session can hold hundreds): an idle subscriber
// with one filter holds one string, not a map.
type filterSet struct {
	list []string
	pos  map[string]int // nil while len(list) <= indexedFilters
}

const indexedFilters = 16

func (fs *filterSet) len() int { return len(fs.list) }

func (fs *filterSet) has(f string) bool {
	_, ok := fs.find(f)
	return ok
}

func (fs *filterSet) find(f string) (int, bool) {
	if fs.pos != nil {
		i, ok := fs.pos[f]
		return i, ok
	}
	for i, g := range fs.list {
		if g == f {
			return i, true
		}
	}
	return 0, false
}

// add adds f unless held, reporting whether it did, and returns the
// string kept: a copy, so that a filter cut from a larger string (a
// request's line, a packet) does not keep all of it alive for as long
// as the subscription lives.
func (fs *filterSet) add(f string) (string, bool) {
	if fs.has(f) {
		return "", false
	}
	f = strings.Clone(f)
	fs.list = append(fs.list, f)
	switch n := len(fs.list); {
	case fs.pos != nil:
		fs.pos[f] = n - 1
	case n > indexedFilters:
		fs.pos = make(map[string]int, n)
		for i, g := range fs.list {
			fs.pos[g] = i
		}
	}
	return f, true
}

// remove removes f, reporting whether it was held.
func (fs *filterSet) remove(f string) bool {
	i, ok := fs.find(f)
	if !ok {
		return false
	}
	last := len(fs.list) - 1
	if i != last {
		fs.list[i] = fs.list[last]
		if fs.pos != nil {
			fs.pos[fs.list[i]] = i
		}
	}
	fs.list[last] = ""
	fs.list = fs.list[:last]
	if fs.pos != nil {
		delete(fs.pos, f)
	}
	return true
}

// clear empties the set.
func (fs *filterSet) clear() { fs.list, fs.pos = nil, nil }
