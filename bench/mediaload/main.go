// Command mediaload reads one HLS path with many concurrent readers (each
// fetching the playlist and every new segment, as a player does) and
// samples how far the playlist's newest media lags the wall clock, from
// the EXT-X-PROGRAM-DATE-TIME the server stamps on each segment when its
// first frame arrives. bench/media.sh runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("hls", "http://127.0.0.1:8080/hls/live/cam1/", "HLS path URL (ending in /)")
	readers := flag.Int("readers", 200, "concurrent HLS readers")
	duration := flag.Duration("duration", 30*time.Second, "how long to read")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *readers}}
	var bytes, segments, failures atomic.Int64
	var wg sync.WaitGroup
	for range *readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read(ctx, client, *base, &bytes, &segments, &failures)
		}()
	}
	edges := sampleEdge(ctx, client, *base)
	wg.Wait()
	slices.Sort(edges)
	fmt.Printf("hls_readers=%d segments=%d bytes=%d failures=%d", *readers, segments.Load(), bytes.Load(), failures.Load())
	if len(edges) > 0 {
		fmt.Printf(" edge_median_ms=%d edge_max_ms=%d", edges[len(edges)/2].Milliseconds(), edges[len(edges)-1].Milliseconds())
	}
	fmt.Println()
}

// read plays base like a player: the media playlist every half second,
// each segment it has not fetched yet.
func read(ctx context.Context, c *http.Client, base string, bytes, segments, failures *atomic.Int64) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		playlist, err := mediaPlaylist(ctx, c, base)
		if err != nil {
			failures.Add(1)
		}
		for _, uri := range uris(playlist) {
			if seen[uri] {
				continue
			}
			seen[uri] = true
			n, err := get(ctx, c, base+uri)
			if err != nil && ctx.Err() == nil {
				failures.Add(1)
				continue
			}
			bytes.Add(int64(len(n)))
			segments.Add(1)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func mediaPlaylist(ctx context.Context, c *http.Client, base string) (string, error) {
	multi, err := get(ctx, c, base+"index.m3u8")
	if err != nil {
		return "", err
	}
	u := uris(string(multi))
	if len(u) == 0 {
		return "", fmt.Errorf("no media playlist in %q", multi)
	}
	b, err := get(ctx, c, base+u[0])
	return string(b), err
}

// sampleEdge measures once a second how old the newest media the
// playlist offers is: now minus (the last segment's program date-time
// plus its duration plus the parts after it, for LL-HLS).
func sampleEdge(ctx context.Context, c *http.Client, base string) []time.Duration {
	var out []time.Duration
	time.Sleep(3 * time.Second) // past the muxer's start
	for ctx.Err() == nil {
		if p, err := mediaPlaylist(ctx, c, base); err == nil {
			if end, ok := newestMedia(p); ok {
				out = append(out, time.Since(end))
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return out
}

func newestMedia(playlist string) (time.Time, bool) {
	var start time.Time
	var dur float64
	sc := bufio.NewScanner(strings.NewReader(playlist))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			t, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
			if err == nil {
				start, dur = t, 0
			}
		case strings.HasPrefix(line, "#EXTINF:"):
			dur = attrFloat(strings.TrimPrefix(line, "#EXTINF:"))
		case strings.HasPrefix(line, "#EXT-X-PART:") && !start.IsZero():
			// parts after the last whole segment extend it
			if i := strings.Index(line, "DURATION="); i >= 0 {
				dur += attrFloat(line[i+len("DURATION="):])
			}
		}
	}
	return start.Add(time.Duration(dur * float64(time.Second))), !start.IsZero()
}

func attrFloat(s string) float64 {
	s, _, _ = strings.Cut(s, ",")
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func uris(playlist string) []string {
	var out []string
	for _, line := range strings.Split(playlist, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
