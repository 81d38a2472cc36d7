package topic

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSubjectMapping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, subject string }{
		{"sensors/1/temp", "sh.sensors.1.temp"},
		{"$SYS/x", "sh.%24SYS.x"},
		{"a.b/c d", "sh.a%2Eb.c%20d"},
		{"a//b", "sh.a.%.b"},
		{"/", "sh.%.%"},
		{"100%", "sh.100%25"},
		{"*/>", "sh.%2A.%3E"},
		{"é", "sh.%C3%A9"},
	} {
		if got := Subject("sh", c.name); got != c.subject {
			t.Errorf("Subject(%q) = %q, want %q", c.name, got, c.subject)
		}
		if got, err := TopicOfSubject("sh", c.subject); err != nil || got != c.name {
			t.Errorf("TopicOfSubject(%q) = %q, %v; want %q", c.subject, got, err, c.name)
		}
	}
}

// TestTopicOfSubjectRefusesNonCanonical: every subject but Subject's own
// output is refused, so no two subjects name one topic.
func TestTopicOfSubjectRefusesNonCanonical(t *testing.T) {
	t.Parallel()
	for _, subject := range []string{
		"sh.a%2eb",  // lower-case hex
		"sh.%61",    // an escaped plain byte
		"sh.a..b",   // empty token
		"sh.a%2",    // cut escape
		"sh.a.b c",  // a byte left unescaped
		"other.a",   // another prefix
		"sh",        // no topic at all
		"sh.a.%00b", // NUL is not in a topic name
	} {
		if got, err := TopicOfSubject("sh", subject); !errors.Is(err, ErrNotTopicSubject) {
			t.Errorf("TopicOfSubject(%q) = %q, %v; want ErrNotTopicSubject", subject, got, err)
		}
	}
}

func TestSubjectFilters(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		filter string
		want   []string
	}{
		{"#", []string{"sh.>"}},
		{"a/#", []string{"sh.a", "sh.a.>"}},
		{"a/+/c", []string{"sh.a.*.c"}},
		{"+", []string{"sh.*"}},
		{"$SYS/#", []string{"sh.%24SYS", "sh.%24SYS.>"}},
		{"a b/+/#", []string{"sh.a%20b.*", "sh.a%20b.*.>"}},
	} {
		if got := SubjectFilters("sh", c.filter); !slices.Equal(got, c.want) {
			t.Errorf("SubjectFilters(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
}

// natsMatch is NATS's subject matching: '*' one token, '>' one or more.
func natsMatch(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || tok != "*" && tok != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}

// validNATSSubject: no empty token, no whitespace, '*' and '>' only as
// wildcard tokens (here: not at all).
func validNATSSubject(s string) bool {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}

func FuzzSubjectRoundTrip(f *testing.F) {
	for _, s := range []string{"a/b", "$SYS/x", "a.b", "a//b", "/", "100%", "*", ">", "é", "%41"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		subject := Subject("sh", name)
		if n := SubjectLen("sh", name); n != len(subject) {
			t.Fatalf("SubjectLen(%q) = %d, len(Subject) = %d", name, n, len(subject))
		}
		if !validNATSSubject(subject) {
			t.Fatalf("Subject(%q) = %q, not a valid NATS subject", name, subject)
		}
		if back, err := TopicOfSubject("sh", subject); err != nil || back != name {
			t.Fatalf("TopicOfSubject(Subject(%q)) = %q, %v", name, back, err)
		}
	})
}

func FuzzTopicOfSubject(f *testing.F) {
	for _, s := range []string{"sh.a.b", "sh.%24SYS", "sh.a%2eb", "sh.%.%", "sh.%61", "sh.a..b", "sh.%2", "sh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		name, err := TopicOfSubject("sh", subject)
		if err != nil {
			return
		}
		if again := Subject("sh", name); again != subject {
			t.Fatalf("%q decodes to %q, which encodes to %q: two subjects for one topic", subject, name, again)
		}
	})
}

// FuzzSubjectFilters: whatever topic a filter matches, one of its subject
// filters matches the topic's subject, as NATS matches.
func FuzzSubjectFilters(f *testing.F) {
	f.Add("a/#", "a")
	f.Add("#", "a/b")
	f.Add("+/+", "/x")
	f.Add("a.b/+", "a.b/c")
	f.Add("a/+/#", "a/b")
	f.Fuzz(func(t *testing.T, filter, name string) {
		if ValidateFilter(filter) != nil || ValidateName(name) != nil || !Match(filter, name) {
			return
		}
		subject := Subject("sh", name)
		for _, sf := range SubjectFilters("sh", filter) {
			if natsMatch(sf, subject) {
				return
			}
		}
		t.Fatalf("filter %q matches %q, but none of %q matches %q", filter, name, SubjectFilters("sh", filter), subject)
	})
}
