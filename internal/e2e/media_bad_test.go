package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// Bad bytes on the RTMP and RTSP ports end that connection only: the
// server closes it or answers 400, refuses to put a path online, and the
// live path next to it keeps playing.
func TestMediaBadInputLeavesOtherPathsAlone(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := rtmpPublished(t)
	rtmpAddr, rtspAddr := srv.RTMP().Addr(), srv.RTSP().Addr()

	t.Run("rtmp garbage handshake", func(t *testing.T) {
		c := dial(t, rtmpAddr)
		c.Write(append([]byte{0xff}, garbage(1536)...)) // version 0xff: not RTMP
		wantClosed(t, c)
	})
	t.Run("rtmp truncated handshake", func(t *testing.T) {
		c := dial(t, rtmpAddr)
		c.Write(append([]byte{3}, garbage(100)...)) // C0 and a tenth of C1
		c.(*net.TCPConn).CloseWrite()
		wantClosed(t, c)
	})
	t.Run("rtmp garbage command after handshake", func(t *testing.T) {
		c := dial(t, rtmpAddr)
		rtmpHandshake(t, c)
		// One whole chunk (fmt 0, chunk stream 3, AMF0 command, 100 bytes)
		// whose body is no AMF0 at all, where connect() belongs.
		c.Write(append([]byte{0x03, 0, 0, 0, 0, 0, 100, 20, 0, 0, 0, 0}, garbage(100)...))
		wantClosed(t, c)
	})
	t.Run("rtmp truncated chunk stream", func(t *testing.T) {
		c := dial(t, rtmpAddr)
		rtmpHandshake(t, c)
		c.Write([]byte{0x03, 0, 0, 0, 0, 0x10, 0, 20, 0, 0, 0, 0, 2, 0}) // announces 4 KiB, sends 2 bytes
		c.(*net.TCPConn).CloseWrite()
		wantClosed(t, c)
	})
	t.Run("rtsp announce with bad sdp", func(t *testing.T) {
		c := dial(t, rtspAddr)
		sdp := "v=0\r\nthis is not SDP\r\nm=video x RTP/AVP\r\n"
		fmt.Fprintf(c, "ANNOUNCE rtsp://%s/live/bad RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
			rtspAddr, len(sdp), sdp)
		wantRTSPStatus(t, c, "400")
	})

	for _, st := range srv.Media().List() {
		if st.Path != "live/cam1" {
			t.Errorf("bad input put %s online", st.Path)
		}
	}
	waitOnline(t, srv, "live/cam1")
	wantH264AAC(t, probe(t, "rtmp://"+rtmpAddr+"/live/cam1"))
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// garbage is n bytes that are no protocol's: fixed, so a failure repeats.
func garbage(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*151 + 7)
	}
	return b
}

// rtmpHandshake does the plain (unsigned) RTMP handshake as a client.
func rtmpHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write(append([]byte{3}, make([]byte, 1536)...)); err != nil {
		t.Fatal(err)
	}
	s0s1s2 := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s0s1s2); err != nil {
		t.Fatalf("read S0 S1 S2: %v", err)
	}
	if _, err := c.Write(s0s1s2[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
}

// wantClosed reads until the server closes the connection; a timeout
// means it is still waiting on bytes that will never come.
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server kept the connection open")
	}
}

// wantRTSPStatus wants an RTSP response with status code (or the
// connection closed without one).
func wantRTSPStatus(t *testing.T, c net.Conn, code string) {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("no answer")
	}
	if err == nil && !strings.HasPrefix(line, "RTSP/1.0 "+code) {
		t.Fatalf("status line %q, want %s", line, code)
	}
}

// An MQTT client (paho.mqtt.golang, MQTT 3.1.1) sees a path's retained
// $media state go online when ffmpeg publishes and offline when it is
// killed.
func TestMediaStateOverMQTT(t *testing.T) {
	requireFFmpeg(t)
	t.Parallel()
	srv := mediaServer(t, nil)
	states := make(chan mediaState, 64)
	opts := paho3.NewClientOptions().AddBroker("tcp://" + srv.MQTT().Addr("mqtt").String()).SetClientID("watcher")
	c := paho3.NewClient(opts)
	if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	tok := c.Subscribe("$media/live/cam2", 1, func(_ paho3.Client, m paho3.Message) {
		var st mediaState
		if err := json.Unmarshal(m.Payload(), &st); err != nil {
			t.Errorf("state %q: %v", m.Payload(), err)
		}
		states <- st
	})
	if tok.Wait() && tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	srv.WaitSubscribers(t, "$media/live/cam2", 1)

	stop := publishFFmpeg(t, "flv", "rtmp://"+srv.RTMP().Addr()+"/live/cam2")
	waitState(t, states, func(st mediaState) bool { return st.Online && len(st.Tracks) == 2 })
	stop()
	waitState(t, states, func(st mediaState) bool { return !st.Online && st.Path == "live/cam2" })
}

func waitState(t *testing.T, states <-chan mediaState, want func(mediaState) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case st := <-states:
			if want(st) {
				return
			}
		case <-deadline:
			t.Fatal("the awaited $media state did not come")
		}
	}
}
