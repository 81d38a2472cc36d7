package hub

// OnSubscribe has f called after every successful Subscribe, of every
// transport, with the filters just added (webhooks). f runs on the
// subscriber's goroutine with no hub lock held, but possibly under the
// transport's own locks (MQTT's session lock): it must not block.
func (h *Hub) OnSubscribe(f func(s *Subscription, filters []string)) {
	h.onSubscribe.Store(&f)
}

func (h *Hub) subscribed(s *Subscription, filters []string) {
	if f := h.onSubscribe.Load(); f != nil {
		(*f)(s, filters)
	}
}
