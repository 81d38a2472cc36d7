package rtsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"streamhub/internal/transport/kit/httpx"
)

// gortsplib serves RTSP tunnelled in HTTP (a GET and a POST connection,
// the POST's body streamed) and in WebSocket, whose every message it reads
// whole into memory with no bound: one 1 GiB message took the server from
// 28 MB to 1.67 GB. streamhub does not offer RTSP over WebSocket (browsers
// read media over WHEP or HLS), so a first request asking for a WebSocket
// upgrade is answered 501 before gortsplib has its whole header.

var (
	errWebSocketTunnel = errors.New("rtsp: RTSP over WebSocket is not served; use rtsp:// over TCP or UDP, or WHEP or HLS in a browser")
	errHTTPHeaderLong  = fmt.Errorf("rtsp: HTTP request header over %d bytes", maxHandshakeHeader)
)

// tunnelFilter follows the header of a connection's first request when it
// is HTTP (RTSP has no GET method) until it ends or asks for an upgrade.
type tunnelFilter struct {
	head    []byte
	scanned int // head[:scanned] holds no upgrade line and no header end
	decided bool
}

var (
	upgradeLine = []byte("\nupgrade")
	crlfEnd     = []byte("\n\r\n")
	lfEnd       = []byte("\n\n")
)

// check adds b, read from the socket, and refuses a WebSocket upgrade or
// an HTTP header longer than gortsplib's RTSP limit; anything else passes.
func (f *tunnelFilter) check(b []byte) error {
	if f.decided {
		return nil
	}
	// Past the limit only the verdict "too long" is left to reach.
	f.head = append(f.head, b[:min(len(b), maxHandshakeHeader+1-len(f.head))]...)
	if len(f.head) < 4 {
		return nil
	}
	if !bytes.HasPrefix(f.head, []byte("GET ")) {
		f.decided, f.head = true, nil
		return nil
	}
	// The lines that may have changed: from just before the last scan.
	from := max(0, f.scanned-len(upgradeLine))
	header := bytes.ToLower(f.head[from:])
	end := len(header)
	for _, sep := range [][]byte{crlfEnd, lfEnd} {
		if i := bytes.Index(header, sep); i >= 0 && i < end {
			end = i + 1
		}
	}
	if bytes.Contains(header[:end], upgradeLine) {
		return errWebSocketTunnel
	}
	if end < len(header) {
		f.decided, f.head = true, nil
		return nil
	}
	if len(f.head) > maxHandshakeHeader {
		return errHTTPHeaderLong
	}
	f.scanned = len(f.head)
	return nil
}

// refuseTunnel answers an HTTP request the filter refused, 501 with the
// JSON error body every HTTP refusal of streamhub has.
func refuseTunnel(w net.Conn, reason error) {
	body, _ := json.Marshal(httpx.ErrorBody{Error: httpx.ErrorDetail{Code: "not_implemented", Message: reason.Error()}})
	res := fmt.Sprintf("HTTP/1.1 501 Not Implemented\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s\n", len(body)+1, body)
	// The connection closes next either way: a failed write changes nothing.
	_ = w.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(w, res)
}
