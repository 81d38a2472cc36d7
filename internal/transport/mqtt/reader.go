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
// source is the conn itself, and its positions are 32 bits (a buffer is at
// most largeRead).
type elasticReader struct {
	src   readSource
	small *[]byte // the pooled buffers, at most one borrowed at a time
	large *[]byte
	r, w  int32
	last  int32 // bytes the last read returned
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

func newElasticReader(rd io.Reader, before func() error) *elasticReader {
	return &elasticReader{src: funcSource{rd: rd, before: before}}
}

// buf is the borrowed buffer, small or large; nil while it borrows neither.
func (e *elasticReader) buf() []byte {
	switch {
	case e.large != nil:
		return *e.large
	case e.small != nil:
		return *e.small
	}
	return nil
}

// fill reads at least one more byte into the buffer, choosing its size
// first when the buffer is empty.
func (e *elasticReader) fill() error {
	if e.r == e.w {
		switch {
		case e.small == nil && e.large == nil, e.large != nil && e.last < smallRead:
			e.toSmall()
		case e.large == nil && int(e.last) >= len(*e.small):
			e.toLarge()
		default:
			e.r, e.w = 0, 0
		}
	} else if buf := e.buf(); int(e.w) == len(buf) {
		// A packet straddles the end: move it to the front, into a large
		// buffer if the small one is full of it.
		if e.r == 0 && e.large == nil {
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
func (e *elasticReader) toSmall() {
	if e.large != nil {
		largeReads.Put(e.large)
		e.large = nil
	}
	if e.small == nil {
		e.small = smallReads.Get().(*[]byte)
	}
	e.r, e.w = 0, 0
}

// toLarge moves what is buffered into a large buffer.
func (e *elasticReader) toLarge() {
	large := largeReads.Get().(*[]byte)
	n := 0
	if e.small != nil {
		n = copy(*large, (*e.small)[e.r:e.w])
		smallReads.Put(e.small)
		e.small = nil
	}
	e.large, e.r, e.w = large, 0, int32(n)
}

func (e *elasticReader) read(p []byte) (int, error) {
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
func (e *elasticReader) wait() error {
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
func (e *elasticReader) readAhead() (bool, error) {
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
func (e *elasticReader) Buffered() int { return int(e.w - e.r) }

// release gives the buffers back; the buffer must be empty. The next read
// borrows a small one again.
func (e *elasticReader) release() {
	if e.large != nil {
		largeReads.Put(e.large)
		e.large = nil
	}
	if e.small != nil {
		smallReads.Put(e.small)
		e.small = nil
	}
	e.r, e.w = 0, 0
}

// ReadByte implements io.ByteReader.
func (e *elasticReader) ReadByte() (byte, error) {
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
func (e *elasticReader) Read(p []byte) (int, error) {
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
