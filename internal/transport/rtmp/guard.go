package rtmp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"streamhub/internal/limit"
)

// gortmplib reserves what a chunk header declares before the bytes come
// (a peer that sets a 10 MiB chunk size and announces a 10 MiB message
// costs 10 MiB for a dozen bytes) and takes messages up to 10 MiB. The
// guard reads the client's chunk stream one chunk ahead of gortmplib and
// hands it only whole chunks, so gortmplib allocates what has arrived;
// it refuses a message over the size limit at its header, and charges the
// bytes of messages still arriving to the budget all transports share.

// DefaultMaxMessage bounds one RTMP message when the configuration does
// not (nginx-rtmp's default): a keyframe of a 1080p stream fits well.
const DefaultMaxMessage = 1 << 20

// connectionShare bounds the bytes of messages still arriving on one
// connection, in messages of the limit: a publisher interleaves a few
// chunk streams (audio, video, commands), never dozens of half messages.
const connectionShare = 4

// handshakeSize is what a client sends before its first chunk: C0, C1, C2.
const handshakeSize = 1 + 1536 + 1536

// maxChunkSize is the largest chunk size gortmplib accepts.
const maxChunkSize = 10 << 20

// Message types the guard acts on, as gortmplib does.
const (
	typeSetChunkSize = 1
	typeAbort        = 2
)

var (
	errMessageTooLarge = errors.New("rtmp: message over the size limit")
	errServerBusy      = errors.New("rtmp: server busy: too many bytes of messages still arriving")
	errConnectionHeld  = errors.New("rtmp: too many bytes of messages still arriving on this connection")
	errEncrypted       = errors.New("rtmp: encrypted RTMP (RTMPE) is not served")
)

// chunkStream is what the guard knows of one chunk stream, as gortmplib's
// reader keeps it.
type chunkStream struct {
	started  bool   // a type 0 or 1 chunk came: later headers may omit fields
	length   uint32 // the current message's declared length
	recv     uint32 // body bytes of the current message so far; 0 between messages
	typ      byte
	extended bool    // type 3 chunks carry an extended timestamp
	held     int     // budget bytes the current message holds
	control  [4]byte // the body of a set-chunk-size or abort message
}

// chunkGuard follows a client's chunk stream. It is a decoder of its own,
// kept in step with gortmplib's: both see the same chunks in the same
// order, and a stream gortmplib would refuse the guard refuses first.
type chunkGuard struct {
	maxMessage uint32
	budget     *limit.Budget
	chunkSize  uint32
	streams    map[byte]*chunkStream // chunk stream IDs 2..63
	reserved   int                   // bytes taken from budget and not yet given back
}

func newChunkGuard(maxMessage int, budget *limit.Budget) *chunkGuard {
	if maxMessage <= 0 {
		maxMessage = DefaultMaxMessage
	}
	return &chunkGuard{maxMessage: uint32(min(maxMessage, 0xFFFFFF)), budget: budget, chunkSize: 128,
		streams: map[byte]*chunkStream{}}
}

// received charges n bytes read from the client to the connection's
// share and to the budget.
func (g *chunkGuard) received(n int) error {
	if g.reserved+n > connectionShare*int(g.maxMessage)+readSize {
		return errConnectionHeld
	}
	if !g.budget.Reserve(n) {
		return errServerBusy
	}
	g.reserved += n
	return nil
}

// free gives n charged bytes back.
func (g *chunkGuard) free(n int) {
	g.budget.Release(n)
	g.reserved -= n
}

// close gives back everything the connection still holds.
func (g *chunkGuard) close() { g.free(g.reserved) }

// chunk reads the chunk at the start of b. While b holds less than a whole
// chunk it returns 0 and changes nothing; once whole, it applies the chunk
// and returns its length.
func (g *chunkGuard) chunk(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	format, id := b[0]>>6, b[0]&0x3F
	if id < 2 {
		return 0, errors.New("rtmp: extended chunk stream IDs are not supported")
	}
	var next chunkStream
	if st := g.streams[id]; st != nil {
		next = *st
	}
	header := [4]int{12, 8, 4, 1}[format]
	if len(b) < header {
		return 0, nil
	}
	if format < 3 && next.recv != 0 {
		return 0, fmt.Errorf("rtmp: chunk of type %d inside a message on chunk stream %d", format, id)
	}
	if format > 0 && format < 3 && !next.started || format == 3 && next.recv == 0 && !next.started {
		return 0, fmt.Errorf("rtmp: chunk of type %d before any header on chunk stream %d", format, id)
	}
	if format < 3 {
		if format < 2 {
			next.length = uint24(b[4:7])
			next.typ = b[7]
			next.started = true
			if next.length > g.maxMessage {
				return 0, fmt.Errorf("%w: %d bytes announced, %d allowed", errMessageTooLarge, next.length, g.maxMessage)
			}
		}
		timestamp := uint24(b[1:4])
		if timestamp >= 0xFFFFFF {
			if len(b) < header+4 {
				return 0, nil
			}
			timestamp = binary.BigEndian.Uint32(b[header:])
			header += 4
		}
		next.extended = timestamp >= 0xFFFFFF
	} else if next.extended {
		header += 4
	}
	body := min(next.length-next.recv, g.chunkSize)
	size := header + int(body)
	if len(b) < size {
		return 0, nil
	}
	st := g.streams[id]
	if st == nil {
		st = &chunkStream{}
		g.streams[id] = st
	}
	*st = next
	if (st.typ == typeSetChunkSize || st.typ == typeAbort) && st.length == 4 {
		copy(st.control[st.recv:], b[header:size])
	}
	st.recv += body
	st.held += int(body)
	g.free(header)
	if st.recv < st.length {
		return size, nil
	}
	g.free(st.held)
	st.recv, st.held = 0, 0
	return size, g.complete(st)
}

// complete applies a whole message that changes how chunks are read.
func (g *chunkGuard) complete(st *chunkStream) error {
	switch st.typ {
	case typeSetChunkSize:
		if st.length != 4 {
			return fmt.Errorf("rtmp: set chunk size of %d bytes", st.length)
		}
		size := binary.BigEndian.Uint32(st.control[:])
		if size == 0 || size > maxChunkSize {
			return fmt.Errorf("rtmp: chunk size %d out of range 1..%d", size, maxChunkSize)
		}
		g.chunkSize = size
	case typeAbort:
		if st.length != 4 {
			return fmt.Errorf("rtmp: abort message of %d bytes", st.length)
		}
		v := binary.BigEndian.Uint32(st.control[:])
		if v < 2 || v > 63 {
			return nil
		}
		if aborted := g.streams[byte(v)]; aborted != nil && aborted.recv != 0 {
			g.free(aborted.held)
			aborted.recv, aborted.held, aborted.length = 0, 0, 0
		}
	}
	return nil
}

func uint24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
