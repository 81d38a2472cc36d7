package registry

import "reflect"

// Observer hears of every connection the registry lists, of every
// protocol, once when it is added and once when it is removed (webhooks).
// It is called on the transport's goroutine, possibly under the
// transport's locks: it must not block.
type Observer interface {
	Connected(Info)
	Disconnected(Info)
}

// Observe sets the observer; call it before any connection is added.
// Only then does the registry index connections by their queue (ByQueue):
// the observer's events are what need it, and without one no idle
// connection pays for the index.
func (r *Registry) Observe(o Observer) {
	if r != nil {
		r.observer = o
		r.byQueue = make(map[any]*entry)
	}
}

func (r *Registry) connected(e *entry) {
	if r.observer != nil {
		r.observer.Connected(r.info(e))
	}
}

func (r *Registry) disconnected(e *entry) {
	if r.observer != nil {
		r.observer.Disconnected(r.identify(e))
	}
}

// Wrapper is a Queue standing for a subscription it wraps (MQTT's
// session queue wraps the session's hub subscription), so that the
// connection is found by that subscription.
type Wrapper interface {
	Unwrap() any
}

// queueKey is what finds e by its subscription: the subscription its
// queue wraps, or the queue; nil when it has none that a map can key.
func (e *entry) queueKey() any {
	var k any = e.queue
	if w, ok := e.queue.(Wrapper); ok {
		k = w.Unwrap()
	}
	if k == nil || !reflect.TypeOf(k).Comparable() {
		return nil
	}
	return k
}

func (r *Registry) indexLocked(e *entry) {
	if r.byQueue == nil {
		return
	}
	if k := e.queueKey(); k != nil {
		r.byQueue[k] = e
	}
}

func (r *Registry) unindexLocked(e *entry) {
	if r.byQueue == nil {
		return
	}
	if k := e.queueKey(); k != nil && r.byQueue[k] == e {
		delete(r.byQueue, k)
	}
}

// ByQueue returns the connection whose queue is q (or wraps q), without
// its queue's state: the caller may hold the queue's locks. It finds
// connections only in a registry with an observer (Observe).
func (r *Registry) ByQueue(q any) (Info, bool) {
	if r == nil || q == nil || !reflect.TypeOf(q).Comparable() {
		return Info{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.byQueue[q]; e != nil {
		return r.identify(e), true
	}
	return Info{}, false
}
