// Package framing splits a byte stream into messages and joins messages
// back into a stream, for raw TCP ports: LF/CRLF lines, 4-byte big-endian
// length prefixes, or raw chunks as they arrive.
package framing

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Mode is a framing.
type Mode int

// The framings.
const (
	Lines  Mode = iota // LF or CRLF terminated; the ending is not part of the message
	Length             // 4-byte big-endian length, then that many bytes
	Raw                // whatever each read returns
)

// ParseMode parses "lines", "length" or "raw".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "lines", "line":
		return Lines, nil
	case "length", "length-prefixed":
		return Length, nil
	case "raw":
		return Raw, nil
	}
	return 0, fmt.Errorf("unknown framing %q: want lines, length or raw", s)
}

func (m Mode) String() string {
	switch m {
	case Length:
		return "length"
	case Raw:
		return "raw"
	}
	return "lines"
}

// ErrTooLong is returned for a line longer than the limit; the decoder has
// skipped it and can go on. ErrFrameTooLarge is returned for a length prefix
// over the limit; the stream cannot be framed any more.
var (
	ErrTooLong       = errors.New("line too long")
	ErrFrameTooLarge = errors.New("frame too large")
)

// Decoder reads messages from a stream.
type Decoder struct {
	mode Mode
	r    *bufio.Reader
	max  int
	buf  []byte
}

// NewDecoder reads frames of mode from r; max bounds one message.
func NewDecoder(r io.Reader, mode Mode, max int) *Decoder {
	size := 64 << 10
	return &Decoder{mode: mode, r: bufio.NewReaderSize(r, size), max: max}
}

// Next returns the next message; the slice is valid until the next call.
// At the end of the stream a final unterminated line is still returned,
// then io.EOF.
func (d *Decoder) Next() ([]byte, error) {
	switch d.mode {
	case Length:
		return d.nextLength()
	case Raw:
		return d.nextRaw()
	}
	return d.nextLine()
}

func (d *Decoder) nextLine() ([]byte, error) {
	d.buf = d.buf[:0]
	tooLong := false
	for {
		chunk, err := d.r.ReadSlice('\n')
		if !tooLong {
			if len(d.buf)+len(chunk) > d.max+2 { // +2: the line ending
				tooLong = true
				d.buf = d.buf[:0]
			} else {
				d.buf = append(d.buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, fmt.Errorf("%w: over %d bytes, skipped", ErrTooLong, d.max)
			}
			line := bytes.TrimSuffix(d.buf[:len(d.buf)-1], []byte{'\r'})
			if len(line) > d.max {
				return nil, fmt.Errorf("%w: over %d bytes, skipped", ErrTooLong, d.max)
			}
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(d.buf) > d.max:
			d.buf = d.buf[:0]
			return nil, fmt.Errorf("%w: over %d bytes, skipped", ErrTooLong, d.max)
		case errors.Is(err, io.EOF) && len(d.buf) > 0 && !tooLong:
			return d.buf, nil // the final line had no ending; it is still a message
		default:
			if tooLong && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: over %d bytes, skipped", ErrTooLong, d.max)
			}
			return nil, err
		}
	}
}

func (d *Decoder) nextLength() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(d.r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("framing: truncated length prefix: %w", err)
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(d.max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, d.max)
	}
	if cap(d.buf) < int(n) {
		d.buf = make([]byte, n)
	}
	d.buf = d.buf[:n]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		return nil, fmt.Errorf("framing: truncated frame of %d bytes: %w", n, err)
	}
	return d.buf, nil
}

func (d *Decoder) nextRaw() ([]byte, error) {
	if cap(d.buf) < 64<<10 {
		d.buf = make([]byte, 64<<10)
	}
	n, err := d.r.Read(d.buf[:min(cap(d.buf), d.max)])
	if n > 0 {
		return d.buf[:n], nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return nil, err
}

// Append appends payload framed by mode to buf: a line ends with "\n", a
// length frame gets its prefix, raw bytes stay as they are.
func Append(buf []byte, mode Mode, payload []byte) []byte {
	switch mode {
	case Length:
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
		return append(buf, payload...)
	case Raw:
		return append(buf, payload...)
	}
	buf = append(buf, payload...)
	return append(buf, '\n')
}
