package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// RTMP and RTSP connections count in limits.peraddress with every other
// protocol's: past it one address's next connection is refused, whatever
// its protocol (RTMP closed at once, RTSP answered 503 or closed if it
// says nothing), while the admitted ones and other addresses work.
func TestMediaConnectionsLimitedPerAddress(t *testing.T) {
	t.Parallel()
	srv := testkit.Start(t, func(c *config.Config) {
		c.Limits.Peraddress = 2
		c.RTMP.Timeout, c.RTSP.Timeout = time.Minute, time.Minute // admitted ones wait for us
	})
	rtmpAddr, rtspAddr := srv.RTMP().Addr(), srv.RTSP().Addr()
	rtmpConn := dial(t, rtmpAddr)
	rtmpHandshake(t, rtmpConn)
	rtspConn := dial(t, rtspAddr)
	wantRTSPOptions(t, rtspConn)
	// The address's two are taken: its next connection to either is
	// closed, RTSP's once a second passed without a request to answer
	// (without the limit, both servers would wait a minute for a
	// handshake).
	for _, addr := range []string{rtmpAddr, rtspAddr} {
		over := dial(t, addr)
		if _, err := over.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
			t.Fatalf("a third connection from one address to %s was not closed (read: %v)", addr, err)
		}
	}
	// The admitted ones still work, another address is not this one's
	// limit, and the metrics count both protocols' connections.
	wantRTSPOptions(t, rtspConn)
	wantRTSPOptions(t, dialFrom(t, "127.0.0.2", rtspAddr))
	if g := connectionGauges(t, srv); g["rtmp"] != 1 || g["rtsp"] != 2 {
		t.Fatalf("streamhub_connections: %v, want rtmp 1 and rtsp 2", g)
	}
}

// connectionGauges reads streamhub_connections by transport from
// /metrics, asked from 127.0.0.3: 127.0.0.1's and 127.0.0.2's connections
// are the test's, up to the limit.
func connectionGauges(t *testing.T, srv *testkit.Server) map[string]int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}}
	resp, err := client.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	gauges := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var transport string
		var n int
		if _, err := fmt.Sscanf(sc.Text(), `streamhub_connections{transport=%q} %d`, &transport, &n); err == nil {
			gauges[transport] = n
		}
	}
	return gauges
}

// wantRTSPOptions sends OPTIONS on c and wants a 200.
func wantRTSPOptions(t *testing.T, c net.Conn) {
	t.Helper()
	fmt.Fprintf(c, "OPTIONS rtsp://%s/ RTSP/1.0\r\nCSeq: 1\r\n\r\n", c.RemoteAddr())
	wantRTSPStatus(t, c, "200")
}

// dialFrom dials addr from the loopback address from (127.0.0.0/8 is all
// the host's on Linux).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
