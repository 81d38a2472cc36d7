package bridge

import (
	"errors"
	"fmt"
	"strings"

	"streamhub/internal/core/topic"
)

// Mapping pairs a filter on the remote broker with one in the local
// namespace. Three shapes are accepted, as in Mosquitto's bridge prefixes:
//
//   - the same filter on both sides (any wildcards): topics keep their names;
//   - two filters ending in "#" with wildcard-free prefixes
//     (remote site1/#, local sites/1/#): the prefix is swapped, site1/a/b ↔
//     sites/1/a/b, and site1 ↔ sites/1;
//   - two topic names without wildcards: one topic renamed.
type Mapping struct {
	Remote string
	Local  string
	// remotePrefix and localPrefix are the parts before "/#" when the
	// prefix is swapped ("" when the filters are the same).
	remotePrefix, localPrefix string
	swap                      bool
}

// Errors of ParseMapping.
var (
	ErrMappingShape = errors.New("remote and local must be the same filter, two filters ending in # without other wildcards, or two topic names")
)

// ParseMapping checks a pair of filters; an empty local means the same
// as remote.
func ParseMapping(remote, local string) (Mapping, error) {
	if local == "" {
		local = remote
	}
	if err := topic.ValidateFilter(remote); err != nil {
		return Mapping{}, fmt.Errorf("remote %q: %w", remote, err)
	}
	if err := topic.ValidateFilter(local); err != nil {
		return Mapping{}, fmt.Errorf("local %q: %w", local, err)
	}
	m := Mapping{Remote: remote, Local: local}
	if remote == local {
		return m, nil
	}
	rp, rHash := prefixOf(remote)
	lp, lHash := prefixOf(local)
	switch {
	case rHash && lHash && !topic.IsFilter(rp) && !topic.IsFilter(lp):
		m.remotePrefix, m.localPrefix, m.swap = rp, lp, true
	case !topic.IsFilter(remote) && !topic.IsFilter(local):
		m.remotePrefix, m.localPrefix, m.swap = remote, local, true
	default:
		return Mapping{}, fmt.Errorf("remote %q, local %q: %w", remote, local, ErrMappingShape)
	}
	return m, nil
}

// prefixOf splits "a/b/#" into "a/b" and true; "#" alone has the empty
// prefix, which only a same-filter mapping may use.
func prefixOf(filter string) (string, bool) {
	if p, ok := strings.CutSuffix(filter, "/#"); ok {
		return p, true
	}
	return "", false
}

// ToLocal maps a remote topic name the remote filter matches; ok is false
// when it does not match.
func (m Mapping) ToLocal(name string) (string, bool) {
	if !topic.Match(m.Remote, name) {
		return "", false
	}
	return swapPrefix(name, m.remotePrefix, m.localPrefix, m.swap), true
}

// ToRemote maps a local topic name the local filter matches.
func (m Mapping) ToRemote(name string) (string, bool) {
	if !topic.Match(m.Local, name) {
		return "", false
	}
	return swapPrefix(name, m.localPrefix, m.remotePrefix, m.swap), true
}

// swapPrefix replaces from with to at the start of name (name is from
// itself or from/...).
func swapPrefix(name, from, to string, swap bool) string {
	if !swap {
		return name
	}
	return to + name[len(from):]
}
