// Package tcptext is the codec of streamhub's small text protocol for raw
// TCP clients (`--tcp ADDR`): line commands, with length-prefixed payloads
// so that any bytes pass, and simple enough to type into nc.
//
//	client → server                      server → client
//	PUB <topic> <n>\n<n bytes>\n         +OK <cursor>
//	SUB <filter>... [FROM <cursor>]\n     +OK
//	UNSUB <filter> [<filter>...]\n       +OK
//	PING\n                               PONG
//	AUTH <user> <password>\n             +OK (or AUTH <token>)
//	CURSORS\n                            +OK; MSG frames carry their cursor
//	                                     MSG <topic> <n>\n<n bytes>\n
//	                                     MSG <topic> <n> <cursor>\n... (after CURSORS)
//	                                     -ERR <code> <text>
//
// Lines end with LF or CRLF; verbs are case-insensitive. The topic of PUB
// and MSG is everything between the verb and the last space-separated
// field (MSG after CURSORS: the last two), so it may hold single spaces.
package tcptext

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Verbs.
const (
	VerbPub   = "PUB"
	VerbSub   = "SUB"
	VerbUnsub = "UNSUB"
	VerbPing  = "PING"
	VerbAuth  = "AUTH"
	// VerbCursors asks for each MSG to carry its cursor, so that a client
	// can resume exactly (SUB ... FROM <the last cursor it read>).
	VerbCursors = "CURSORS"
)

// Command is one parsed client command.
type Command struct {
	Verb    string
	Topic   string   // PUB
	Filters []string // SUB, UNSUB
	Cursor  string   // SUB ... FROM <cursor>: resume after it
	Args    []string // AUTH <user> <password> or AUTH <token>
	Payload []byte   // PUB; valid until the next Next
}

// Error is a refused command. Fatal errors leave the stream unframeable:
// the connection must be closed after reporting them.
type Error struct {
	Code  string
	Text  string
	Fatal bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Text }

// Reader parses commands.
type Reader struct {
	r          *bufio.Reader
	maxPayload int
	maxLine    int
	payload    []byte
}

// NewReader parses commands from r; payloads over maxPayload are skipped
// with a payload_too_large error.
func NewReader(r io.Reader, maxPayload int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), maxPayload: maxPayload, maxLine: 64 << 10}
}

// Next returns the next command. Errors of type *Error are protocol
// errors; any other error is the connection's.
func (r *Reader) Next() (Command, error) {
	line, err := r.readLine()
	if err != nil {
		return Command{}, err
	}
	verb, rest, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(strings.TrimSpace(verb))
	rest = strings.TrimSpace(rest)
	switch verb {
	case "":
		return r.Next() // blank lines are harmless, e.g. from nc
	case VerbPing, VerbCursors:
		return Command{Verb: verb}, nil
	case VerbAuth:
		args := strings.Fields(rest)
		if len(args) < 1 || len(args) > 2 {
			return Command{}, &Error{Code: "syntax", Text: "want AUTH <user> <password> or AUTH <token>"}
		}
		return Command{Verb: VerbAuth, Args: args}, nil
	case VerbSub, VerbUnsub:
		filters := strings.Fields(rest)
		if len(filters) == 0 {
			return Command{}, &Error{Code: "syntax", Text: verb + " needs at least one filter"}
		}
		cmd := Command{Verb: verb, Filters: filters}
		if n := len(filters); verb == VerbSub && n >= 3 && strings.EqualFold(filters[n-2], "FROM") {
			cmd.Filters, cmd.Cursor = filters[:n-2], filters[n-1]
		}
		return cmd, nil
	case VerbPub:
		i := strings.LastIndexByte(rest, ' ')
		if i <= 0 {
			return Command{}, &Error{Code: "syntax", Text: "want PUB <topic> <length>", Fatal: true}
		}
		topic, lengthText := strings.TrimSpace(rest[:i]), rest[i+1:]
		n, err := strconv.Atoi(lengthText)
		if err != nil || n < 0 {
			return Command{}, &Error{Code: "syntax", Text: fmt.Sprintf("bad length %q in PUB", lengthText), Fatal: true}
		}
		if n > r.maxPayload {
			if err := r.discard(n); err != nil {
				return Command{}, err
			}
			return Command{}, &Error{Code: "payload_too_large", Text: fmt.Sprintf("%d bytes, limit %d; skipped", n, r.maxPayload)}
		}
		if cap(r.payload) < n {
			r.payload = make([]byte, n)
		}
		r.payload = r.payload[:n]
		if _, err := io.ReadFull(r.r, r.payload); err != nil {
			return Command{}, fmt.Errorf("tcptext: read payload: %w", err)
		}
		if err := r.lineEnd(); err != nil {
			return Command{}, err
		}
		return Command{Verb: VerbPub, Topic: topic, Payload: r.payload}, nil
	}
	return Command{}, &Error{Code: "unknown_command", Text: fmt.Sprintf("%q: want PUB, SUB, UNSUB, PING, AUTH or CURSORS", verb)}
}

func (r *Reader) readLine() (string, error) {
	var line []byte
	for {
		chunk, err := r.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > r.maxLine {
			return "", &Error{Code: "line_too_long", Text: fmt.Sprintf("command line over %d bytes", r.maxLine), Fatal: true}
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(line) > 0 {
			break // a last command without a line ending
		}
		return "", err
	}
	return string(bytes.TrimRight(line, "\r\n")), nil
}

func (r *Reader) discard(n int) error {
	if _, err := r.r.Discard(n); err != nil {
		return fmt.Errorf("tcptext: skip payload: %w", err)
	}
	return r.lineEnd()
}

// lineEnd consumes the LF or CRLF that must follow a payload.
func (r *Reader) lineEnd() error {
	b, err := r.r.ReadByte()
	if errors.Is(err, io.EOF) {
		return nil // payload ended the stream; nothing is lost
	}
	if err != nil {
		return err
	}
	if b == '\r' {
		if b, err = r.r.ReadByte(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
	if b != '\n' {
		return &Error{Code: "framing", Text: "payload not followed by a line ending: check the length", Fatal: true}
	}
	return nil
}

// AppendMsg appends a MSG frame; a non-empty cursor is its last field.
func AppendMsg(buf []byte, topic string, payload []byte, cursor string) []byte {
	buf = append(buf, "MSG "...)
	buf = append(buf, topic...)
	buf = append(buf, ' ')
	buf = strconv.AppendInt(buf, int64(len(payload)), 10)
	if cursor != "" {
		buf = append(buf, ' ')
		buf = append(buf, cursor...)
	}
	buf = append(buf, '\n')
	buf = append(buf, payload...)
	return append(buf, '\n')
}

// AppendOK appends "+OK" and an optional detail.
func AppendOK(buf []byte, detail string) []byte {
	buf = append(buf, "+OK"...)
	if detail != "" {
		buf = append(buf, ' ')
		buf = append(buf, detail...)
	}
	return append(buf, '\n')
}

// AppendErr appends "-ERR code text", with line breaks in text flattened.
func AppendErr(buf []byte, code, text string) []byte {
	text = strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
	return append(buf, "-ERR "+code+" "+text+"\n"...)
}
