//go:build linux

package idlepoll

// table finds a Poller's handles by slot: an epoll event carries a slot
// and the slot's generation, so that an event armed for a handle since
// released never reaches the one that took its slot after. A map from a
// 64-bit id took about 38 B a handle; a slot takes 16, in chunks that are
// never moved (a handle's slot stays where it is) nor given back.
type table struct {
	chunks [][]slotEntry
	free   uint32 // the first free slot, noSlot for none (newTable)
	used   uint32 // slots ever handed out
	live   int    // slots holding a handle
}

type slotEntry struct {
	h    *Handle
	gen  uint32 // incremented each time the slot is freed
	next uint32 // the next free slot while this one is free
}

// noSlot is no slot: the end of the free list, a released handle's.
const noSlot = ^uint32(0)

const chunkSize = 1024

func newTable() table { return table{free: noSlot} }

func (t *table) entry(slot uint32) *slotEntry {
	return &t.chunks[slot/chunkSize][slot%chunkSize]
}

// add gives h a slot.
func (t *table) add(h *Handle) uint32 {
	slot := t.free
	if slot != noSlot {
		e := t.entry(slot)
		t.free = e.next
		e.h = h
		t.live++
		return slot
	}
	slot = t.used
	if int(slot/chunkSize) == len(t.chunks) {
		t.chunks = append(t.chunks, make([]slotEntry, chunkSize))
	}
	t.used++
	t.live++
	t.entry(slot).h = h
	return slot
}

// gen is slot's generation now.
func (t *table) gen(slot uint32) uint32 { return t.entry(slot).gen }

// get is the handle in slot if the slot is still of generation gen.
func (t *table) get(slot, gen uint32) *Handle {
	if slot >= t.used {
		return nil
	}
	e := t.entry(slot)
	if e.gen != gen {
		return nil
	}
	return e.h
}

// remove frees slot.
func (t *table) remove(slot uint32) {
	e := t.entry(slot)
	e.h = nil
	e.gen++
	t.live--
	e.next = t.free
	t.free = slot
}
