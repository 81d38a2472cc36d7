package envelope

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"streamhub/internal/core/message"
)

// Append appends the envelope of m to dst: the encoding cached on the
// message when it goes to several subscribers (Marshal), else written
// straight into dst, as for a page of a replay, whose messages each go to
// one subscriber.
func Append(dst []byte, m *message.Message, retained bool) []byte {
	if !retained && m.Shared() {
		return append(dst, Marshal(m, false)...)
	}
	return AppendJSON(dst, m, retained)
}

// AppendJSON appends the envelope of m to dst: the bytes
// json.Marshal(From(m, retained)) makes, escapes included, without
// reflection or the copies in between.
func AppendJSON(dst []byte, m *message.Message, retained bool) []byte {
	dst = append(dst, `{"type":"message"`...)
	if m.Topic != "" {
		dst = appendString(append(dst, `,"topic":`...), m.Topic)
	}
	if m.Epoch != "" || m.Seq != 0 {
		dst = append(append(dst, `,"id":"`...), m.Epoch...)
		dst = strconv.AppendUint(append(dst, '-'), m.Seq, 10)
		dst = append(dst, '"')
	}
	dst = m.Time.UTC().AppendFormat(append(dst, `,"time":"`...), time.RFC3339Nano)
	dst = append(dst, '"')
	if m.ContentType != "" {
		dst = appendString(append(dst, `,"content_type":`...), m.ContentType)
	}
	if len(m.Headers) > 0 {
		dst = append(dst, `,"headers":[`...)
		for i, h := range m.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(append(dst, `{"key":`...), h.Key)
			dst = appendString(append(dst, `,"value":`...), h.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if retained {
		dst = append(dst, `,"retained":true`...)
	}
	if utf8.Valid(m.Payload) {
		dst = appendString(append(dst, `,"payload":`...), m.Payload)
	} else {
		dst = base64.StdEncoding.AppendEncode(append(dst, `,"encoding":"base64","payload":"`...), m.Payload)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// appendString appends s as a JSON string the way encoding/json writes
// one: quotes, backslashes, control characters, <, > and & escaped,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(append(dst, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(append(dst, s[start:i]...), '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// decodeRune decodes the first rune of s, a string or bytes.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	var b [utf8.UTFMax]byte
	n := copy(b[:], s[:min(len(s), utf8.UTFMax)])
	return utf8.DecodeRune(b[:n])
}
