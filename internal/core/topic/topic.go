// Package topic holds streamhub's one topic grammar, shared by every protocol:
// MQTT's rules of `/`-separated UTF-8 levels, with `+` (one level) and `#`
// (all remaining levels) allowed in filters only.
package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"streamhub/internal/quote"
)

// MaxLength is the longest topic or filter accepted, in bytes (MQTT's limit).
const MaxLength = 65535

// Errors returned by validation; wrapped with detail, test them with errors.Is.
var (
	ErrEmpty       = errors.New("topic is empty")
	ErrTooLong     = errors.New("topic is longer than 65535 bytes")
	ErrInvalidUTF8 = errors.New("topic is not valid UTF-8")
	ErrNullChar    = errors.New("topic contains U+0000")
	ErrWildcard    = errors.New("topic name contains a wildcard (+ or #)")
	ErrBadWildcard = errors.New("wildcard must occupy a whole level")
	ErrHashNotLast = errors.New("# must be the last level of a filter")
	// ErrSubjectTooLong: on a cluster a topic travels as a NATS subject
	// (subject.go), which NATS bounds far below MaxLength.
	ErrSubjectTooLong = errors.New("topic is too long for the cluster")
)

func checkCommon(s string) error {
	if s == "" {
		return ErrEmpty
	}
	if len(s) > MaxLength {
		return ErrTooLong
	}
	if !utf8.ValidString(s) {
		return ErrInvalidUTF8
	}
	if strings.IndexByte(s, 0) >= 0 {
		return ErrNullChar
	}
	return nil
}

// IsInvalid reports whether err is a validation error of this package.
func IsInvalid(err error) bool {
	for _, e := range []error{ErrEmpty, ErrTooLong, ErrInvalidUTF8, ErrNullChar, ErrWildcard, ErrBadWildcard, ErrHashNotLast, ErrSubjectTooLong} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// IsValidName reports whether ValidateName accepts name, without saying
// why: the check on every publish, made in one pass over the name.
func IsValidName(name string) bool {
	if name == "" || len(name) > MaxLength {
		return false
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b == '+' || b == '#' || b == 0:
			return false
		case b >= utf8.RuneSelf:
			return ValidateName(name) == nil
		}
	}
	return true
}

// ValidateName checks a topic name a message is published to.
func ValidateName(name string) error {
	if err := checkCommon(name); err != nil {
		return fmt.Errorf("invalid topic %s: %w", quote.Cut(name), err)
	}
	if strings.ContainsAny(name, "+#") {
		return fmt.Errorf("invalid topic %s: %w", quote.Cut(name), ErrWildcard)
	}
	return nil
}

// ValidateFilter checks a subscription filter.
func ValidateFilter(filter string) error {
	if err := checkCommon(filter); err != nil {
		return fmt.Errorf("invalid filter %s: %w", quote.Cut(filter), err)
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return fmt.Errorf("invalid filter %s: %w", quote.Cut(filter), ErrHashNotLast)
			}
		case l == "+":
		case strings.ContainsAny(l, "+#"):
			return fmt.Errorf("invalid filter %s: %w", quote.Cut(filter), ErrBadWildcard)
		}
	}
	return nil
}

// IsFilter reports whether s contains a wildcard level.
func IsFilter(s string) bool { return strings.ContainsAny(s, "+#") }

// Match reports whether topic name matches filter. Both are assumed valid.
// A filter starting with a wildcard does not match names starting with '$'.
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := cut(filter)
		if fl == "#" {
			return true
		}
		nl, nrest, nmore := cut(name)
		if fl != "+" && fl != nl {
			return false
		}
		if !fmore || !nmore {
			// "a/#" also matches "a": the parent level.
			if !nmore && fmore && frest == "#" {
				return true
			}
			return fmore == nmore
		}
		filter, name = frest, nrest
	}
}

// MatchAny reports whether name matches any of the filters.
func MatchAny(filters []string, name string) bool {
	for _, f := range filters {
		if Match(f, name) {
			return true
		}
	}
	return false
}

func cut(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// Covers reports whether every topic name matched by filter is also
// matched by rule. Both are assumed valid filters.
func Covers(rule, filter string) bool {
	if dollarMismatch(rule, filter) {
		return false
	}
	r, f := Levels(rule), Levels(filter)
	for i, rl := range r {
		if rl == "#" {
			return true
		}
		if i >= len(f) {
			return false
		}
		switch fl := f[i]; {
		case fl == "#":
			return false
		case rl == "+":
		case rl != fl || fl == "+":
			return false
		}
	}
	return len(r) == len(f)
}

// Overlap reports whether some topic name is matched by both filters.
func Overlap(a, b string) bool {
	if dollarMismatch(a, b) || dollarMismatch(b, a) {
		return false
	}
	x, y := Levels(a), Levels(b)
	for i := 0; ; i++ {
		switch {
		case i < len(x) && x[i] == "#", i < len(y) && y[i] == "#":
			return true
		case i == len(x) && i == len(y):
			return true
		case i == len(x):
			return i+1 == len(y) && y[i] == "#" // "a" and "a/#"
		case i == len(y):
			return i+1 == len(x) && x[i] == "#"
		case x[i] != "+" && y[i] != "+" && x[i] != y[i]:
			return false
		}
	}
}

// dollarMismatch: a filter starting with a wildcard matches no $-topic, so
// it neither covers nor overlaps a filter whose first level starts with $.
func dollarMismatch(wild, other string) bool {
	return wild != "" && (wild[0] == '+' || wild[0] == '#') && other != "" && other[0] == '$'
}

// Levels splits a topic or filter into its levels.
func Levels(s string) []string { return strings.Split(s, "/") }
