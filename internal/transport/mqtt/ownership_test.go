package mqtt

import "testing"

// TestForeignSeesAnonymousSessions: clientIDs counts only the sessions
// with an owner, yet an anonymous session of a client id is still another
// identity's for an owner claiming that id, and the other way round.
func TestForeignSeesAnonymousSessions(t *testing.T) {
	s := &Server{sessions: map[string]*session{}, clientIDs: map[string]int{}}
	anon := &session{id: sessionKey("", "dev1")}
	bob := &session{id: sessionKey("bob", "dev1"), owner: "bob"}
	type claim struct {
		owner   string
		foreign bool
	}
	check := func(step string, claims ...claim) {
		t.Helper()
		for _, c := range claims {
			if got := s.foreignLocked(sessionKey(c.owner, "dev1"), "dev1"); got != c.foreign {
				t.Errorf("%s: %q claiming dev1: foreign %v, want %v", step, c.owner, got, c.foreign)
			}
		}
	}
	check("no session", claim{"", false}, claim{"bob", false})
	s.addSessionLocked(anon)
	check("anonymous session", claim{"", false}, claim{"bob", true})
	s.addSessionLocked(bob)
	check("both", claim{"", true}, claim{"bob", true}, claim{"carol", true})
	s.removeSessionLocked(anon)
	check("bob's alone", claim{"", true}, claim{"bob", false}, claim{"carol", true})
	s.removeSessionLocked(bob)
	check("none again", claim{"", false}, claim{"bob", false})
	if len(s.clientIDs) != 0 {
		t.Errorf("clientIDs left: %v", s.clientIDs)
	}
	if anon.clientID() != "dev1" || bob.clientID() != "dev1" {
		t.Errorf("client ids: %q, %q", anon.clientID(), bob.clientID())
	}
}
