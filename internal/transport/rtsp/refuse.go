package rtsp

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strings"
)

// refuse answers a connection over the limits (limits.connections,
// limits.peraddress) as RTSP refuses a request: its first request is read
// and answered 503 Service Unavailable with its CSeq; the admission bounds
// the time this takes and closes the connection. A tunnel's first request
// is HTTP (RTSP over HTTP), and is answered in HTTP.
func refuse(nc net.Conn, err error) {
	r := textproto.NewReader(bufio.NewReaderSize(nc, 4096))
	line, rerr := r.ReadLine()
	if rerr != nil {
		return
	}
	head, rerr := r.ReadMIMEHeader()
	if rerr != nil {
		return
	}
	if strings.HasSuffix(line, " HTTP/1.0") || strings.HasSuffix(line, " HTTP/1.1") {
		fmt.Fprintf(nc, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		return
	}
	fmt.Fprintf(nc, "RTSP/1.0 503 Service Unavailable\r\nCSeq: %s\r\nRetry-After: 5\r\n\r\n", cseq(head.Get("CSeq")))
}

// cseq is a request's CSeq as it may be echoed: digits only, "0" without.
func cseq(v string) string {
	if v == "" || strings.Trim(v, "0123456789") != "" || len(v) > 10 {
		return "0"
	}
	return v
}
