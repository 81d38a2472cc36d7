package hub

import (
	"runtime"
	"sync"
)

// A transport that can write to an idle connection at once (a plain
// socket tried without blocking) does better to do so on the goroutine
// that published than to start one of its own per subscriber and message:
// a goroutine's start, scheduling and end cost about as much as the
// write. Fan-out runs under Hub.mu, which must not wait on sockets, so the
// hooks set with NotifyAfterPublish are collected there and called once
// the publish has released it.

// wakeChunk is how many hooks one goroutine calls before a fan-out is
// spread over more: below it, starting goroutines costs more than it saves.
const wakeChunk = 128

// NotifyAfterPublish makes the subscription call f, instead of its Notify
// hook, when a publish queued a live message for it: after the publish
// released the hub's locks, on the publisher's goroutine (a large fan-out
// spread over up to GOMAXPROCS goroutines, the publish returning when all
// are done). f must not block: it may write what it can without waiting
// and leave the rest to a goroutine. Everything else (backlogs, the end,
// a drain leaving messages behind) still goes to Notify.
func (s *Subscription) NotifyAfterPublish(f func()) {
	s.afterPublish.Store(&f)
}

// wakeList collects, under Hub.mu, the hooks a fan-out owes; lists are
// lent per publish, since the hooks run after Hub.mu is released.
type wakeList struct{ hooks []func() }

// owe adds f to *list, borrowing a list from the hub's pool for the
// first. The caller holds Hub.mu.
func (h *Hub) owe(list **wakeList, f func()) {
	if *list == nil {
		*list = h.wakeLists.Get().(*wakeList)
	}
	(*list).hooks = append((*list).hooks, f)
}

// wake calls the hooks a fan-out owed, without any hub lock, spreading a
// large list over up to GOMAXPROCS goroutines, and gives the list back.
func (h *Hub) wake(list *wakeList) {
	if list == nil {
		return
	}
	hooks := list.hooks
	workers := min(runtime.GOMAXPROCS(0), (len(hooks)+wakeChunk-1)/wakeChunk)
	if workers > 1 {
		per := (len(hooks) + workers - 1) / workers
		var wg sync.WaitGroup
		for rest := hooks[per:]; len(rest) > 0; rest = rest[min(per, len(rest)):] {
			wg.Add(1)
			go func(chunk []func()) {
				defer wg.Done()
				callAll(chunk)
			}(rest[:min(per, len(rest))])
		}
		callAll(hooks[:per])
		wg.Wait()
	} else {
		callAll(hooks)
	}
	clear(hooks)
	list.hooks = hooks[:0]
	h.wakeLists.Put(list)
}

func callAll(hooks []func()) {
	for _, f := range hooks {
		f()
	}
}
