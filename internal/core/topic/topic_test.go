package topic

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
	}{
		{"iot/sensor/temperature", nil},
		{"/leading", nil},
		{"trailing/", nil},
		{"a//b", nil},
		{"$SYS/uptime", nil},
		{"", ErrEmpty},
		{"a/+/b", ErrWildcard},
		{"a/#", ErrWildcard},
		{"bad\x00nul", ErrNullChar},
		{"bad\xffutf8", ErrInvalidUTF8},
		{strings.Repeat("a", MaxLength+1), ErrTooLong},
	}
	for _, c := range cases {
		err := ValidateName(c.name)
		if !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("ValidateName(%.20q) = %v, want %v", c.name, err, c.err)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		filter string
		err    error
	}{
		{"#", nil},
		{"+", nil},
		{"iot/#", nil},
		{"+/+/temperature", nil},
		{"a/+/b/#", nil},
		{"", ErrEmpty},
		{"a/#/b", ErrHashNotLast},
		{"a/b#", ErrBadWildcard},
		{"a/+b", ErrBadWildcard},
		{"sport+", ErrBadWildcard},
	}
	for _, c := range cases {
		err := ValidateFilter(c.filter)
		if !errors.Is(err, c.err) && !(err == nil && c.err == nil) {
			t.Errorf("ValidateFilter(%q) = %v, want %v", c.filter, err, c.err)
		}
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		filter, name string
		want         bool
	}{
		{"iot/#", "iot/sensor/temperature", true},
		{"iot/#", "iot", true},
		{"iot/#", "iotx", false},
		{"#", "a/b/c", true},
		{"#", "$SYS/uptime", false},
		{"+/uptime", "$SYS/uptime", false},
		{"$SYS/#", "$SYS/uptime", true},
		{"$SYS/+", "$SYS/uptime", true},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/+", "a/b/c", false},
		{"a/+", "a/", true},
		{"+", "a", true},
		{"+", "/a", false},
		{"+/+", "/a", true},
		{"/#", "/a", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
	}
	for _, c := range cases {
		if got := Match(c.filter, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.filter, c.name, got, c.want)
		}
	}
}

// FuzzMatch checks that validation never panics and that Match agrees with a
// straightforward level-by-level reference implementation.
func FuzzMatch(f *testing.F) {
	f.Add("iot/#", "iot/sensor/temperature")
	f.Add("+/+", "/a")
	f.Add("#", "$SYS/x")
	f.Add("a/+/c", "a//c")
	f.Fuzz(func(t *testing.T, filter, name string) {
		if ValidateFilter(filter) != nil || ValidateName(name) != nil {
			return
		}
		if got, want := Match(filter, name), referenceMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
	})
}

func referenceMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f, n := Levels(filter), Levels(name)
	for i, fl := range f {
		if fl == "#" {
			return true
		}
		if i >= len(n) {
			return false
		}
		if fl != "+" && fl != n[i] {
			return false
		}
	}
	return len(f) == len(n)
}

func TestCoversAndOverlap(t *testing.T) {
	t.Parallel()
	covers := []struct {
		rule, filter string
		want         bool
	}{
		{"sensors/#", "sensors/+/temp", true},
		{"sensors/#", "sensors", true},
		{"sensors/+", "sensors/a", true},
		{"sensors/+", "sensors/#", false},
		{"sensors/+", "sensors/+/x", false},
		{"#", "$SYS/x", false},
		{"#", "a/b", true},
		{"a/b", "a/+", false},
		{"a/+/c", "a/b/c", true},
	}
	for _, c := range covers {
		if got := Covers(c.rule, c.filter); got != c.want {
			t.Errorf("Covers(%q, %q) = %v", c.rule, c.filter, got)
		}
	}
	overlap := []struct {
		a, b string
		want bool
	}{
		{"a/+", "a/b", true},
		{"a/+", "b/+", false},
		{"a/#", "a", true},
		{"a/b/c", "a/+", false},
		{"+/x", "$SYS/x", false},
		{"#", "$SYS/#", false},
		{"$SYS/#", "$SYS/a", true},
		{"a/+/c", "a/b/+", true},
	}
	for _, c := range overlap {
		if got := Overlap(c.a, c.b); got != c.want {
			t.Errorf("Overlap(%q, %q) = %v", c.a, c.b, got)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"a/b", "#", "a/#/b", "\xff", "+/x", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nameErr := ValidateName(s)
		filterErr := ValidateFilter(s)
		if IsValidName(s) != (nameErr == nil) {
			t.Fatalf("IsValidName(%q) = %v but ValidateName says %v", s, IsValidName(s), nameErr)
		}
		if nameErr == nil && filterErr != nil {
			t.Fatalf("%q is a valid name but not a valid filter: %v", s, filterErr)
		}
		if nameErr == nil && !Match(s, s) {
			t.Fatalf("valid name %q does not match itself", s)
		}
	})
}
