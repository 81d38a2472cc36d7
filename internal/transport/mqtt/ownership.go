package mqtt

import (
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/core/message"
)

// What a client gets when its client id names a session of another
// identity (Config.ForeignClientID).
const (
	// ForeignSeparate gives it a session of its own, beside the other's.
	ForeignSeparate = "separate"
	// ForeignRefuse refuses the CONNECT: v5 0x85 Client Identifier not
	// valid, 3.1.1 0x02 identifier rejected.
	ForeignRefuse = "refuse"
)

// A session belongs to the identity that created it, its owner: the
// authenticated user name, or "" for anonymous clients and for everyone
// when the policy is open (nobody is authenticated then, so all clients are
// one identity). Sessions are named by owner and client id together, so a
// client id reused by another identity never reaches the owner's session:
// it neither resumes it, nor takes its connection over, nor ends it.
func sessionOwner(p *auth.Policy, who *auth.Identity) string {
	if p.Open() || who.Anonymous {
		return ""
	}
	return who.User
}

// ownerIdentity stands for a stored session's owner until it connects
// again: its name, with the roles the users file gives it. A token's claims
// are not stored, so a restored session may read less than its owner's
// token allowed, never more.
func ownerIdentity(p *auth.Policy, owner, clientID string) *auth.Identity {
	if owner == "" {
		return &auth.Identity{ClientID: clientID, Anonymous: true}
	}
	return p.Certificate(owner, clientID)
}

// sessionKey names a session in the server and in the session store. An
// anonymous session is named by its client id alone, as before sessions had
// owners, so stored sessions of that time are still found. Client ids
// cannot contain U+0000 [MQTT-1.5.4-2], so the owner's part is unambiguous.
// The client id is the handshake's copy (a view into the CONNECT packet
// would keep the packet), so an anonymous session's key shares it.
func sessionKey(owner, clientID string) string {
	if owner == "" {
		return clientID
	}
	return "\x00" + owner + "\x00" + clientID
}

// connectTerms are what a CONNECT sets on the session it attaches to.
type connectTerms struct {
	expiry    time.Duration
	will      *message.Message
	willDelay time.Duration
}

// claimSession binds c to its identity's session of clientID: an older
// connection on it is closed first (v5 reason 0x8E), then the session is
// resumed (present) unless clean, or a new one started. With
// ForeignRefuse, it refuses (ok false) a client id that another identity
// has a session of.
func (s *Server) claimSession(c *conn, owner, clientID string, clean bool, terms connectTerms) (ss *session, present, ok bool) {
	key := sessionKey(owner, clientID)
	for {
		s.mu.Lock()
		if s.cfg.ForeignClientID == ForeignRefuse && s.foreignLocked(key, clientID) {
			s.mu.Unlock()
			return nil, false, false
		}
		ss = s.sessions[key]
		if ss == nil {
			ss = s.newSession(key)
			ss.owner = owner
			s.addSessionLocked(ss)
			ss.mu.Lock()
			ss.attachLocked(c, terms)
			ss.mu.Unlock()
			s.mu.Unlock()
			return ss, false, true
		}
		ss.mu.Lock()
		if oc := ss.conn; oc != nil {
			ss.mu.Unlock()
			s.mu.Unlock()
			oc.kick(codeTakenOver)
			<-oc.gone.Done() // its detachment (and will) comes before this connection's attachment
			continue
		}
		if clean {
			s.removeSessionLocked(ss)
			ss.mu.Unlock()
			s.mu.Unlock()
			ss.end()
			continue
		}
		ss.attachLocked(c, terms)
		ss.mu.Unlock()
		s.mu.Unlock()
		return ss, true, true
	}
}

// foreignLocked reports whether a session of clientID exists under another
// owner than key's; the caller holds s.mu. clientIDs counts the sessions
// that have an owner; the anonymous one, if any, is the one whose key is
// the client id itself.
func (s *Server) foreignLocked(key, clientID string) bool {
	n := s.clientIDs[clientID]
	if _, anonymous := s.sessions[clientID]; anonymous {
		n++
	}
	if _, own := s.sessions[key]; own {
		n--
	}
	return n > 0
}

// addSessionLocked registers ss; the caller holds s.mu. Anonymous
// sessions, often all of them, are not counted in clientIDs: their key
// is their client id (foreignLocked).
func (s *Server) addSessionLocked(ss *session) {
	s.sessions[ss.id] = ss
	if ss.owner != "" {
		s.clientIDs[ss.clientID()]++
	}
}

// removeSessionLocked unregisters ss if it is still the registered one;
// the caller holds s.mu.
func (s *Server) removeSessionLocked(ss *session) {
	if s.sessions[ss.id] != ss {
		return
	}
	delete(s.sessions, ss.id)
	if ss.owner == "" {
		return
	}
	if s.clientIDs[ss.clientID()]--; s.clientIDs[ss.clientID()] <= 0 {
		delete(s.clientIDs, ss.clientID())
	}
}
