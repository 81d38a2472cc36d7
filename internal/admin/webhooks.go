package admin

import (
	"net/http"

	"streamhub/internal/webhook"
)

// Webhooks reports each webhook's queue and deliveries (*webhook.Manager).
type Webhooks interface {
	States() []webhook.State
}

func (a *API) webhooks(w http.ResponseWriter, r *http.Request) {
	q, ok := readPage(w, r)
	if !ok {
		return
	}
	var states []webhook.State
	if a.deps.Webhooks != nil {
		states = a.deps.Webhooks.States()
	}
	writePage(w, "webhooks", pageOf(states, func(s webhook.State) string { return s.Name }, byName, q))
}
