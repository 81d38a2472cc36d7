package hub

import (
	"iter"
	"maps"
	"slices"
)

// filterSetListMax is the most filters a filterSet keeps in a list; past
// it they move to a map.
const filterSetListMax = 8

// filterSet is a subscription's filters. Most subscriptions have one or
// a few: a short list holds them in a sixth of the memory of a map (a
// map's first group of slots alone is 208 bytes for string keys), which
// counts at a million idle subscribers; a subscription with many filters
// gets a map, so that adding one stays constant time.
type filterSet struct {
	list []string            // while set is nil
	set  map[string]struct{} // past filterSetListMax
}

func (fs *filterSet) len() int {
	if fs.set != nil {
		return len(fs.set)
	}
	return len(fs.list)
}

func (fs *filterSet) has(f string) bool {
	if fs.set != nil {
		_, ok := fs.set[f]
		return ok
	}
	return slices.Contains(fs.list, f)
}

// add adds f and reports whether it was new.
func (fs *filterSet) add(f string) bool {
	if fs.has(f) {
		return false
	}
	switch {
	case fs.set != nil:
		fs.set[f] = struct{}{}
	case len(fs.list) < filterSetListMax:
		fs.list = append(fs.list, f)
	default:
		fs.set = make(map[string]struct{}, 2*filterSetListMax)
		for _, g := range fs.list {
			fs.set[g] = struct{}{}
		}
		fs.set[f] = struct{}{}
		fs.list = nil
	}
	return true
}

// remove removes f and reports whether it was there.
func (fs *filterSet) remove(f string) bool {
	if fs.set != nil {
		_, ok := fs.set[f]
		delete(fs.set, f)
		return ok
	}
	i := slices.Index(fs.list, f)
	if i < 0 {
		return false
	}
	fs.list = slices.Delete(fs.list, i, i+1)
	return true
}

// all yields every filter; the set must not change meanwhile.
func (fs *filterSet) all() iter.Seq[string] {
	if fs.set != nil {
		return maps.Keys(fs.set)
	}
	return slices.Values(fs.list)
}

func (fs *filterSet) clear() {
	clear(fs.list)
	fs.list, fs.set = nil, nil
}
