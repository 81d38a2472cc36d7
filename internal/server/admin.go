package server

import (
	"context"
	"net/http"
	"time"

	"streamhub/internal/admin"
	"streamhub/internal/dashboard"
)

// adminAPI builds the admin API over the server's parts.
func (s *Server) adminAPI() *admin.API {
	deps := admin.Deps{Hub: s.hub, Registry: s.registry, Sessions: s.mqtt, Counters: s.metrics,
		Config: s.cfg, Version: Version, Started: time.Now(), Webhooks: s.webhooks, Bridges: s.bridgeStatus}
	if s.store != nil {
		deps.Store = s.store
	}
	if c := s.cluster; c != nil {
		deps.Cluster = func() admin.Cluster {
			st := c.Status()
			return admin.Cluster{Node: st.Node, NATSConnected: st.Connected, NATSServer: st.Server, Peers: st.Peers}
		}
	}
	s.logins = admin.NewLogins(s.policy, loginTTL)
	return admin.New(deps, s.log)
}

// loginTTL is how long a dashboard login lasts.
const loginTTL = 12 * time.Hour

// mountAdmin serves the admin API and the dashboard behind their guards
// (same origin and host first, then the role), and the endpoint list the
// dashboard replaced at /.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	open, public := s.policy.Open(), s.cfg.Admin.Public
	hosts := admin.NewHosts(s.cfg.HTTP.Addr, s.cfg.Admin.Hosts)
	sameOrigin := admin.SameOrigin(hosts)
	mux.Handle("POST "+admin.LoginPath, sameOrigin(http.HandlerFunc(s.logins.Login)))
	mux.Handle("POST /v1/admin/logout", sameOrigin(http.HandlerFunc(s.logins.Logout)))
	mux.Handle("GET "+admin.SessionPath, sameOrigin(http.HandlerFunc(s.logins.Session)))
	guard := admin.Guard(open, public)
	s.admin.Routes(mux, func(h http.Handler) http.Handler { return sameOrigin(guard(h)) })
	page := admin.PageGuard(open, public)
	mux.Handle("GET /{$}", hosts.Check(page(dashboard.Page()))) // may be linked to from anywhere
	mux.Handle("GET /dashboard/", sameOrigin(page(dashboard.Assets())))
	mux.HandleFunc("GET /endpoints", s.index)
}

// startAdmin publishes the statistics on $SYS until Shutdown.
func (s *Server) startAdmin(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAdmin = cancel
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		s.admin.PublishStats(ctx, s.cfg.Admin.Stats)
	}()
	return nil
}
