package mqtt

import (
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"streamhub/internal/auth"
)

// takeOverSession gives the connection of identity who its session, once
// CONNECT is accepted: the session named by its owner and client id
// (ownership.go), adopted from the node holding it (nodes.go: on a node
// alone, always this one), taken over from the connection that held it
// (which ends first) or created, with the will and expiry of this
// CONNECT. ok is false when the client id names another identity's
// session and the config says refuse, or names a session the store
// cannot hold.
func (c *conn) takeOverSession(who *auth.Identity, cp packets.ConnectParams, expiry time.Duration) (ss *session, present, ok bool) {
	p := c.srv.cfg.Policy
	id := who.ClientID
	owner := sessionOwner(p, who)
	terms := connectTerms{expiry: expiry}
	if cp.WillFlag {
		terms.will = willMessage(cp, sessionKey(owner, id))
		terms.willDelay = time.Duration(cp.WillProperties.WillDelayInterval) * time.Second
	}
	rev, err := c.srv.adopt(sessionKey(owner, id), cp.Clean)
	if err != nil {
		c.srv.log.Info("MQTT client identifier refused", "transport", "mqtt", "err", err)
		return nil, false, false
	}
	ss, present, ok = c.srv.claimSession(c, owner, id, cp.Clean, terms)
	if !ok {
		return nil, false, false
	}
	ss.claimed(rev)
	if present && !p.Open() {
		ss.mu.Lock()
		restricted := ss.restricted
		ss.mu.Unlock()
		if restricted { // checked with the rights the owner has now (a restored session's are narrower)
			ss.sub.Restrict(p.ReadCheck(who))
		}
	}
	return ss, present, true
}
