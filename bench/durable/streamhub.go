package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// streamhubHTTP publishes with one HTTP POST per message, c at a time, and
// replays with long polling.
func streamhubHTTP(base string, ld load) ([]row, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: ld.c}}
	var first string
	var once sync.Once
	pub, err := parallel(ld.n, ld.c, func(_, _ int) error {
		resp, err := client.Post(base+"/v1/publish/bench/x", "text/plain", bytes.NewReader(ld.payload))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var r struct{ Cursor string }
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("publish: %d %v", resp.StatusCode, err)
		}
		once.Do(func() { first = r.Cursor })
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ld.noReplay {
		return []row{{"HTTP POST publish", pub, 0}}, nil
	}
	epoch := strings.Split(first, "-")[0]
	replay, err := timed(ld.n, func() error { return longPoll(client, base, epoch, ld.n) })
	if err != nil {
		return nil, err
	}
	return []row{{"HTTP POST publish, long-poll replay", pub, replay}}, nil
}

// streamhubBulk publishes over MQTT QoS 1, then replays everything over
// each streaming protocol in turn.
func streamhubBulk(base, mqttAddr, tcpAddr string, ld load) ([]row, error) {
	var pub float64
	if !ld.replayOnly {
		var err error
		if pub, err = timed(ld.n, func() error { return mqttPublish(mqttAddr, ld) }); err != nil {
			return nil, fmt.Errorf("mqtt publish: %w", err)
		}
	}
	var rows []row
	if !ld.replayOnly {
		rows = append(rows, row{fmt.Sprintf("MQTT QoS 1 publish (%d connections × %d in flight)", ld.c, ld.window), pub, 0})
	}
	var epoch string
	replays := []struct {
		what string
		run  func() error
	}{
		{"TCP text replay (SUB … FROM 1)", func() (err error) { epoch, err = tcpReplay(tcpAddr, ld.n); return err }},
		{"plain WebSocket replay (?from=1; gobwas/ws client)", func() error { return wsReplay(base, ld.n) }},
		{"NDJSON replay (?from=1)", func() error { return ndjsonReplay(base, ld.n) }},
		{"long-poll replay (limit 1000)", func() error { return longPoll(http.DefaultClient, base, epoch, ld.n) }},
	}
	for _, r := range replays {
		if !strings.Contains(r.what, ld.replays) {
			continue
		}
		rate, err := timed(ld.n, r.run)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.what, err)
		}
		rows = append(rows, row{r.what, 0, rate})
	}
	return rows, nil
}

// longPoll reads n messages from the start of epoch, 1000 per answer.
func longPoll(client *http.Client, base, epoch string, n int) error {
	cursor := epoch + "-0"
	for got := 0; got < n; {
		q := url.Values{"topic": {"bench/#"}, "cursor": {cursor}, "timeout": {"0"}, "limit": {"1000"}}
		resp, err := client.Get(base + "/v1/poll?" + q.Encode())
		if err != nil {
			return err
		}
		var a struct {
			Cursor   string
			Messages []json.RawMessage
		}
		err = json.NewDecoder(resp.Body).Decode(&a)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(a.Messages) == 0 {
			return fmt.Errorf("replay stopped at %d of %d", got, n)
		}
		got += len(a.Messages)
		cursor = a.Cursor
	}
	return nil
}

// tcpReplay subscribes from sequence 1 over the TCP text protocol and reads
// until n messages arrived; it returns the epoch of the +OK head.
func tcpReplay(addr string, n int) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, "SUB bench/# FROM 1\n"); err != nil {
		return "", err
	}
	// The +OK may come after the first messages (as retained ones may):
	// read until both the n messages and it have come.
	r := bufio.NewReaderSize(c, 64<<10)
	var epoch string
	for got := 0; got < n || epoch == ""; {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return "", fmt.Errorf("after %d messages: %w", got, err)
		}
		if head, ok := bytes.CutPrefix(line, []byte("+OK ")); ok {
			fields := strings.Fields(string(head))
			epoch = strings.Split(fields[len(fields)-1], "-")[0]
			continue
		}
		if !bytes.HasPrefix(line, []byte("MSG ")) {
			return "", fmt.Errorf("after %d messages: %q", got, line)
		}
		size, err := strconv.Atoi(string(bytes.TrimSpace(line[bytes.LastIndexByte(line[:len(line)-1], ' ')+1:])))
		if err != nil {
			return "", fmt.Errorf("MSG line %q: %w", line, err)
		}
		if _, err := r.Discard(size + 1); err != nil {
			return "", err
		}
		got++
	}
	return epoch, nil
}

// wsReplay reads n frames from a plain WebSocket subscribed from sequence
// 1, with gobwas/ws reading frame headers and skipping payloads off a
// buffered reader, as a client that wants speed reads.
func wsReplay(base string, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u := "ws" + strings.TrimPrefix(base, "http") + "/v1/ws/bench/%23?from=1"
	c, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	if br != nil { // bytes read past the handshake come first
		r = bufio.NewReaderSize(io.MultiReader(br, c), 64<<10)
	}
	for got := 0; got < n; {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return fmt.Errorf("after %d messages: %w", got, err)
		}
		if _, err := r.Discard(int(h.Length)); err != nil {
			return err
		}
		if h.OpCode == ws.OpText || h.OpCode == ws.OpBinary {
			got++
		}
	}
	return nil
}

// ndjsonReplay reads n message lines from an NDJSON subscription from
// sequence 1.
func ndjsonReplay(base string, n int) error {
	resp, err := http.Get(base + "/v1/subscribe?topic=bench/%23&from=1&format=ndjson")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("subscribe: %s", resp.Status)
	}
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	message := []byte(`{"type":"message"`)
	for got := 0; got < n; {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("after %d messages: %w", got, err)
		}
		if bytes.HasPrefix(line, message) {
			got++
		}
	}
	return nil
}
