package hub

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"streamhub/internal/core/message"
)

// ParseStart reads a starting point as clients write it: from is a
// cursor (EPOCH-SEQ, resume after it), a sequence number (start at it), or
// an RFC 3339 time (start at the first message published then or later);
// last is a count of the latest matching messages. Empty strings mean
// "live, with retained messages".
func ParseStart(from, last string) (StartFrom, error) {
	if from != "" && last != "" {
		return StartFrom{}, errors.New("give from or last, not both")
	}
	if last != "" {
		n, err := strconv.Atoi(last)
		if err != nil || n <= 0 {
			return StartFrom{}, fmt.Errorf("last=%q: want a positive number of messages", last)
		}
		return StartFrom{Last: n}, nil
	}
	if from == "" {
		return StartFrom{Retained: true}, nil
	}
	if n, err := strconv.ParseUint(from, 10, 64); err == nil {
		if n == 0 {
			n = 1
		}
		return StartFrom{FromSeq: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, from); err == nil {
		return StartFrom{Since: t}, nil
	}
	c, err := message.ParseCursor(from)
	if err != nil {
		return StartFrom{}, fmt.Errorf("from=%q: want a cursor, a sequence number or an RFC 3339 time", from)
	}
	return StartFrom{After: &c}, nil
}
