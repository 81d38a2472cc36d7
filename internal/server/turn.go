package server

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"streamhub/internal/auth"
	"streamhub/internal/core/topic"
	"streamhub/internal/metrics"
	"streamhub/internal/transport/kit/httpx"
	"streamhub/internal/turn"
)

// TURNPath mints TURN credentials for a room's peers (GET, ?room=).
const TURNPath = "/v1/turn"

// newTURN builds the built-in STUN/TURN server when turn.addr is set;
// Start binds its sockets.
func (s *Server) newTURN() error {
	t := s.cfg.TURN
	if t.Addr == "" {
		return nil
	}
	secret := []byte(t.Secret)
	if len(secret) == 0 {
		secret = []byte(rand.Text()) // this node's credentials only, until restart
	}
	srv, err := turn.New(turn.Config{Addr: t.Addr, TCP: t.TCP, Relay: t.RelayIP(), RelayBind: t.Relaybind,
		MinPort: uint16(t.Minport), MaxPort: uint16(t.Maxport), Realm: t.Realm, Secret: secret, TTL: t.TTL,
		PerIdentity: s.cfg.Limits.Turnallocations, PublicOnly: t.Public, Admission: s.admission("turn")}, s.log)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.turn = srv
	s.metrics.TURN(func() metrics.TURNState {
		st := srv.Stats()
		return metrics.TURNState{Allocations: st.Allocations, AllocationsTotal: st.AllocationsTotal, Refused: st.Refused,
			BytesFromPeers: st.BytesFromPeers, BytesToPeers: st.BytesToPeers}
	})
	return nil
}

// turnRoutes mounts GET /v1/turn when the TURN server is on.
func (s *Server) turnRoutes(mux *http.ServeMux) {
	if s.turn != nil {
		mux.HandleFunc("GET "+TURNPath, s.serveTURN)
	}
}

// serveTURN answers credentials to whoever may signal in ?room=: publish
// and subscribe on its signalling topic (docs/SECURITY.md), the same rule
// the hub applies to the signalling itself. Without auth the identity is
// the client's address, so that limits.turnallocations still bounds one
// client.
func (s *Server) serveTURN(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	signal := RoomTopic(room)
	if room == "" || strings.ContainsAny(room, "/+#") || topic.ValidateName(signal) != nil {
		httpx.WriteError(w, http.StatusBadRequest, "bad_room", "room must be one topic level, without / + or #")
		return
	}
	id := auth.FromContext(r.Context())
	if !s.policy.Open() {
		if ok, restricted := s.policy.CanSubscribe(id, signal); !ok || restricted || !s.policy.CanPublish(id, signal) {
			httpx.WriteError(w, http.StatusForbidden, "forbidden", "no right to signal in room "+room)
			return
		}
	}
	name, notAfter := "", time.Time{}
	switch {
	case id != nil && !id.Anonymous:
		name, notAfter = id.User, id.Expires()
	default:
		name, _, _ = net.SplitHostPort(r.RemoteAddr)
		name = "anonymous@" + name
	}
	httpx.WriteJSON(w, s.turn.Credentials(name, time.Now(), notAfter))
}

// RoomTopic is the topic a room's peers signal on (clients/js/peer.js).
func RoomTopic(room string) string { return "room/" + room + "/signal" }

// TURN returns the TURN server, nil when off.
func (s *Server) TURN() *turn.Server { return s.turn }
