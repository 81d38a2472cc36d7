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

// elasticReader is a buffered reader whose buffer follows the load.
type elasticReader struct {
	rd     io.Reader
	before func() error // runs before each read from rd
	buf    []byte       // small's or large's, nil while it borrows neither
	small  *[]byte      // the pooled buffers, at most one borrowed at a time
	large  *[]byte
	r, w   int
	last   int // bytes the last read returned
}

func newElasticReader(rd io.Reader, before func() error) *elasticReader {
	return &elasticReader{rd: rd, before: before}
}

// fill reads at least one more byte into the buffer, choosing its size
// first when the buffer is empty.
func (e *elasticReader) fill() error {
	if e.r == e.w {
		switch {
		case e.buf == nil, e.large != nil && e.last < smallRead:
			e.toSmall()
		case e.large == nil && e.last >= len(e.buf):
			e.toLarge()
		default:
			e.r, e.w = 0, 0
		}
	} else if e.w == len(e.buf) {
		// A packet straddles the end: move it to the front, into a large
		// buffer if the small one is full of it.
		if e.r == 0 && e.large == nil {
			e.toLarge()
		} else {
			e.r, e.w = 0, copy(e.buf, e.buf[e.r:e.w])
		}
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

// toSmall makes the buffer a small one; the buffer must be empty.
func (e *elasticReader) toSmall() {
	if e.large != nil {
		largeReads.Put(e.large)
		e.large = nil
	}
	if e.small == nil {
		e.small = smallReads.Get().(*[]byte)
	}
	e.buf, e.r, e.w = *e.small, 0, 0
}

// toLarge moves what is buffered into a large buffer.
func (e *elasticReader) toLarge() {
	e.large = largeReads.Get().(*[]byte)
	n := copy(*e.large, e.buf[e.r:e.w])
	if e.small != nil {
		smallReads.Put(e.small)
		e.small = nil
	}
	e.buf, e.r, e.w = *e.large, 0, n
}

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

// readAhead takes in what rd holds already without waiting for the socket
// (records crypto/tls read ahead): the caller has set a read deadline in
// the past, which fails a read of the socket itself, so its timeout is no
// error here. It reports whether anything was buffered.
func (e *elasticReader) readAhead() (bool, error) {
	before := e.before
	e.before = nil
	err := e.fill()
	e.before = before
	if e.Buffered() > 0 {
		return true, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return false, err
}

// Buffered is the number of bytes read but not yet consumed.
func (e *elasticReader) Buffered() int { return e.w - e.r }

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
	e.buf, e.r, e.w = nil, 0, 0
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

// Read implements io.Reader; a read at least as large as the buffer with
// nothing buffered goes straight into p.
func (e *elasticReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if e.r == e.w {
		if len(p) >= max(len(e.buf), smallRead) {
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
