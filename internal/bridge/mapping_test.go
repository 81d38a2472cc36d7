package bridge

import (
	"errors"
	"testing"
)

func TestMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		remote, local    string
		remoteName, want string // remoteName maps to want; "" want: no match
	}{
		{"site1/#", "sites/1/#", "site1/a/b", "sites/1/a/b"},
		{"site1/#", "sites/1/#", "site1", "sites/1"},
		{"site1/#", "sites/1/#", "site10/a", ""},
		{"a/+/c", "", "a/b/c", "a/b/c"},
		{"#", "#", "x/y", "x/y"},
		{"temp", "sensors/temp", "temp", "sensors/temp"},
		{"temp", "sensors/temp", "temp/x", ""},
	} {
		m, err := ParseMapping(tc.remote, tc.local)
		if err != nil {
			t.Fatalf("%s ↔ %s: %v", tc.remote, tc.local, err)
		}
		got, ok := m.ToLocal(tc.remoteName)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("%s ↔ %s: ToLocal(%q) = %q, %v; want %q", tc.remote, tc.local, tc.remoteName, got, ok, tc.want)
		}
		if ok {
			if back, ok := m.ToRemote(got); !ok || back != tc.remoteName {
				t.Errorf("%s ↔ %s: ToRemote(%q) = %q, %v", tc.remote, tc.local, got, back, ok)
			}
		}
	}
	for _, bad := range [][2]string{{"a/+/#", "b/#"}, {"a/#", "b/+"}, {"a/#", "b"}, {"#", "b/#"}, {"a", "b/+"}} {
		if _, err := ParseMapping(bad[0], bad[1]); !errors.Is(err, ErrMappingShape) {
			t.Errorf("%s ↔ %s: %v, want ErrMappingShape", bad[0], bad[1], err)
		}
	}
	if _, err := ParseMapping("a/#/b", ""); err == nil {
		t.Error("an invalid filter accepted")
	}
}

// FuzzMapping: a name a mapping takes in comes back out unchanged.
func FuzzMapping(f *testing.F) {
	f.Add("site1/#", "sites/1/#", "site1/a")
	f.Add("a/+/c", "", "a/b/c")
	f.Add("t", "u", "t")
	f.Fuzz(func(t *testing.T, remote, local, name string) {
		m, err := ParseMapping(remote, local)
		if err != nil {
			return
		}
		l, ok := m.ToLocal(name)
		if !ok {
			return
		}
		r, ok := m.ToRemote(l)
		if !ok || r != name {
			t.Fatalf("%q ↔ %q: %q → %q → %q, %v", remote, local, name, l, r, ok)
		}
	})
}
