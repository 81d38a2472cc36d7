package mqtt

import (
	"io"
	"sync"
)

// Read buffer sizes: a quiet connection reads into a small buffer of its
// own; one that fills it borrows a large one from a pool, and gives it back
// once its reads are small again. Idle connections are most connections,
// and a 16 KiB buffer each would be most of their memory.
const (
	smallRead = 512
	largeRead = 16 << 10
)

var largeReads = sync.Pool{New: func() any { b := make([]byte, largeRead); return &b }}

// elasticReader is a buffered reader whose buffer follows the load.
type elasticReader struct {
	rd     io.Reader
	before func() error // runs before each read from rd
	buf    []byte
	large  *[]byte // the pooled buffer while buf is it
	r, w   int
	last   int // bytes the last read returned
	small  [smallRead]byte
}

func newElasticReader(rd io.Reader, before func() error) *elasticReader {
	e := &elasticReader{rd: rd, before: before}
	e.buf = e.small[:]
	return e
}

// fill reads at least one more byte into the buffer, choosing its size
// first when the buffer is empty.
func (e *elasticReader) fill() error {
	if e.r == e.w {
		e.r, e.w = 0, 0
		switch {
		case e.large == nil && e.last >= len(e.buf):
			e.large = largeReads.Get().(*[]byte)
			e.buf = *e.large
		case e.large != nil && e.last < smallRead:
			e.release()
		}
	} else if e.w == len(e.buf) {
		// A packet straddles the end: move it to the front, into a large
		// buffer if the small one is full of it.
		n := copy(e.buf, e.buf[e.r:e.w])
		if n == len(e.buf) && e.large == nil {
			e.large = largeReads.Get().(*[]byte)
			n = copy(*e.large, e.buf)
			e.buf = *e.large
		}
		e.r, e.w = 0, n
	}
	// A reader may return no bytes and no error: WebSocket's NetConn does
	// at the end of each message. Try again, as bufio does, a bounded
	// number of times.
	for range maxEmptyReads {
		n, err := e.read(e.buf[e.w:])
		e.w += n
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

func (e *elasticReader) read(p []byte) (int, error) {
	if e.before != nil {
		if err := e.before(); err != nil {
			return 0, err
		}
	}
	n, err := e.rd.Read(p)
	e.last = n
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

// Buffered is the number of bytes read but not yet consumed.
func (e *elasticReader) Buffered() int { return e.w - e.r }

// release gives the large buffer back; the buffer must be empty.
func (e *elasticReader) release() {
	if e.large != nil {
		largeReads.Put(e.large)
		e.large = nil
	}
	e.buf = e.small[:]
	e.r, e.w = 0, 0
}

// ReadByte implements io.ByteReader.
func (e *elasticReader) ReadByte() (byte, error) {
	for e.r == e.w {
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	b := e.buf[e.r]
	e.r++
	return b, nil
}

// Read implements io.Reader; a read larger than the buffer with nothing
// buffered goes straight into p.
func (e *elasticReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if e.r == e.w {
		if len(p) >= len(e.buf) {
			return e.read(p)
		}
		if err := e.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.buf[e.r:e.w])
	e.r += n
	return n, nil
}
