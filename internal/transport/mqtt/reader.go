package mqtt

import (
	"errors"
	"io"
	"os"
	"sync"
)

// Read buffer sizes: a quiet connection reads into a small buffer; one that
// fills it borrows a large one, and gives it back once its reads are small
// again. Idle connections are most connections, and a 16 KiB buffer each
// would be most of their memory. Both come from pools: a connection parked
// while idle (idlepoll) holds none.
const (
	smallRead = 512
	largeRead = 16 << 10
)

var (
	smallReads = sync.Pool{New: func() any { b := make([]byte, smallRead); return &b }}
	largeReads = sync.Pool{New: func() any { b := make([]byte, largeRead); return &b }}
)

// elasticReader is a buffered reader whose buffer follows the load. Every
// connection holds one, inside its conn (no allocation of its own): its
// source is the conn itself, a type parameter so that it costs a pointer
// rather than an interface, and its positions are 32 bits (a buffer is at
// most largeRead).
type elasticReader[S readSource] struct {
	src S
	// b is the borrowed buffer, small or large (told by its length); nil
	// while it borrows neither.
	b    *[]byte
	r, w int32
	last int32 // bytes the last read returned
	// quiet skips src's beforeRead (readAhead).
	quiet bool
}

// readSource is what an elasticReader reads from: beforeRead runs before
// each read (and may refuse it), readInput reads.
type readSource interface {
	readInput(p []byte) (int, error)
	beforeRead() error
}

// funcSource is a readSource of an io.Reader and a hook (nil: none).
type funcSource struct {
	rd     io.Reader
	before func() error
}

func (f funcSource) readInput(p []byte) (int, error) { return f.rd.Read(p) }

func (f funcSource) beforeRead() error {
	if f.before == nil {
		return nil
	}
	return f.before()
}

func newElasticReader(rd io.Reader, before func() error) *elasticReader[funcSource] {
	return &elasticReader[funcSource]{src: funcSource{rd: rd, before: before}}
}

// buf is the borrowed buffer, small or large; nil while it borrows neither.
func (e *elasticReader[S]) buf() []byte {
	if e.b == nil {
		return nil
	}
	return *e.b
}

// large reports whether the borrowed buffer is a large one.
func (e *elasticReader[S]) large() bool { return e.b != nil && len(*e.b) == largeRead }

// fill reads at least one more byte into the buffer, choosing its size
// first when the buffer is empty.
func (e *elasticReader[S]) fill() error {
	if e.r == e.w {
		switch {
		case e.b == nil, e.large() && e.last < smallRead:
			e.toSmall()
		case !e.large() && int(e.last) >= len(*e.b):
			e.toLarge()
		default:
			e.r, e.w = 0, 0
		}
	} else if buf := e.buf(); int(e.w) == len(buf) {
		// A packet straddles the end: move it to the front, into a large
		// buffer if the small one is full of it.
		if e.r == 0 && !e.large() {
			e.toLarge()
		} else {
			e.r, e.w = 0, int32(copy(buf, buf[e.r:e.w]))
		}
	}
	// A reader may return no bytes and no error: WebSocket's NetConn does
	// at the end of each message. Try again, as bufio does, a bounded
	// number of times.
	buf := e.buf()
	for range maxEmptyReads {
		n, err := e.read(buf[e.w:])
		e.w += int32(n)
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

const maxEmptyReads = 100

// toSmall makes the buffer a small one; the buffer must be empty.
func (e *elasticReader[S]) toSmall() {
	if e.large() {
		largeReads.Put(e.b)
		e.b = nil
	}
	if e.b == nil {
		e.b = smallReads.Get().(*[]byte)
	}
	e.r, e.w = 0, 0
}

// toLarge moves what is buffered into a large buffer.
func (e *elasticReader[S]) toLarge() {
	large := largeReads.Get().(*[]byte)
	n := 0
	if e.b != nil {
		n = copy(*large, (*e.b)[e.r:e.w])
		smallReads.Put(e.b)
	}
	e.b, e.r, e.w = large, 0, int32(n)
}

func (e *elasticReader[S]) read(p []byte) (int, error) {
	if !e.quiet {
		if err := e.src.beforeRead(); err != nil {
			return 0, err
		}
	}
	n, err := e.src.readInput(p)
	e.last = int32(min(n, largeRead)) // only compared with the buffer sizes
	return n, err
}

// wait blocks until input is buffered.
func (e *elasticReader[S]) wait() error {
	for e.r == e.w {
		if err := e.fill(); err != nil {
			return err
		}
	}
	return nil
}

// readAhead takes in what the source holds already without waiting for
// the socket (records crypto/tls read ahead): the caller has set a read
// deadline in the past, which fails a read of the socket itself, so its
// timeout is no error here. It reports whether anything was buffered.
func (e *elasticReader[S]) readAhead() (bool, error) {
	e.quiet = true
	err := e.fill()
	e.quiet = false
	if e.Buffered() > 0 {
		return true, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return false, err
}

// Buffered is the number of bytes read but not yet consumed.
func (e *elasticReader[S]) Buffered() int { return int(e.w - e.r) }

// release gives the buffers back; the buffer must be empty. The next read
// borrows a small one again.
func (e *elasticReader[S]) release() {
	switch {
	case e.large():
		largeReads.Put(e.b)
	case e.b != nil:
		smallReads.Put(e.b)
	}
	e.b, e.r, e.w = nil, 0, 0
}

// ReadByte implements io.ByteReader.
func (e *elasticReader[S]) ReadByte() (byte, error) {
	for e.r == e.w {
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	b := e.buf()[e.r]
	e.r++
	return b, nil
}

// Read implements io.Reader; a read at least as large as the buffer with
// nothing buffered goes straight into p.
func (e *elasticReader[S]) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if e.r == e.w {
		if len(p) >= max(len(e.buf()), smallRead) {
			return e.read(p)
		}
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.buf()[e.r:e.w])
	e.r += int32(n)
	return n, nil
}
