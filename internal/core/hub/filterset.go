package hub

import (
	"strings"

	"streamhub/internal/core/index"
)

// filterSet is a subscription's filters: most subscriptions have one (kept
// in place) or a few, so an index.Set, not a map, for an idle subscriber
// to hold.
type filterSet struct{ index.Set[string] }

// add adds f unless held, reporting whether it did, and returns the
// string kept: a copy unless owned, so that a filter cut from a larger
// string (a request's line, a packet) does not keep all of it alive for
// as long as the subscription lives.
func (fs *filterSet) add(f string, owned bool) (string, bool) {
	if fs.Has(f) {
		return "", false
	}
	if !owned {
		f = strings.Clone(f)
	}
	fs.Add(f)
	return f, true
}
