package cluster

// localBits is how many low bits of a position count non-durable messages
// a node delivered after a durable one: a durable message's position is
// its stream sequence << localBits (room for 2^40 stream messages), the
// same on every node, and the positions between two durable ones are a
// node's own.
const localBits = 24

// tickAt is the local count at which a node stores a tick in the stream,
// so that a new durable position arrives long before the count runs out.
const tickAt = 1 << (localBits - 1)

func durablePosition(streamSeq uint64) uint64 { return streamSeq << localBits }

// streamSeq is the stream sequence of the last durable message at or
// before position p.
func streamSeq(p uint64) uint64 { return p >> localBits }

// positions numbers what one node delivers, strictly increasing. The
// caller serialises (JetStream.deliverMu).
type positions struct {
	base  uint64 // position of the last durable message delivered
	count uint64 // non-durable messages delivered since
}

func (p *positions) durable(streamSeq uint64) {
	p.base, p.count = durablePosition(streamSeq), 0
}

func (p *positions) last() uint64 { return p.base + p.count }

// next is the position of a non-durable message: ok false when the local
// count ran out (the tick never arrived); tick true once, when the count
// reaches tickAt.
func (p *positions) next() (seq uint64, ok, tick bool) {
	if p.count+1 >= 1<<localBits {
		return 0, false, false
	}
	p.count++
	return p.base + p.count, true, p.count == tickAt
}
