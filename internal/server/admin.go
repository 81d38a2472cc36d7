package server

import (
	"context"
	"net/http"
	"time"

	"streamhub/internal/admin"
)

// adminAPI builds the admin API over the server's parts.
func (s *Server) adminAPI() *admin.API {
	deps := admin.Deps{Hub: s.hub, Registry: s.registry, Sessions: s.mqtt, Counters: s.metrics,
		Config: s.cfg, Version: Version, Started: time.Now()}
	if s.store != nil {
		deps.Store = s.store
	}
	return admin.New(deps, s.log)
}

// mountAdmin serves the admin API behind its guard.
func (s *Server) mountAdmin(mux *http.ServeMux) {
	s.admin.Routes(mux, admin.Guard(s.policy.Open(), s.cfg.Admin.Public))
}

// startAdmin publishes the statistics on $SYS until Shutdown.
func (s *Server) startAdmin() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopAdmin = cancel
	s.serveWG.Add(1)
	go func() {
		defer s.serveWG.Done()
		s.admin.PublishStats(ctx, s.cfg.Admin.Stats)
	}()
}
