// Command medialatency measures publisher→reader latency of a media path
// over RTSP, RTMP and WHEP with the send time carried in the stream: it
// publishes a pre-encoded H.264 file over RTMP at its frame rate, puts an
// SEI user-data NAL unit holding the wall clock into every access unit,
// and readers on the same machine subtract it from their own clock on
// arrival. Encoder and ffmpeg start-up are out of the figure; a reader's
// own start-up (connect to first frame) is printed apart from its steady
// state, which counts only frames after -warmup.
//
//	ffmpeg -f lavfi -i testsrc=size=1280x720:rate=30 -t 10 -c:v libx264 -preset ultrafast \
//	  -tune zerolatency -pix_fmt yuv420p -b:v 2M -g 30 -x264-params aud=1 -f h264 in.h264
//	medialatency -h264 in.h264 -rtmp 127.0.0.1:1935 -rtsp 127.0.0.1:8554 -http http://127.0.0.1:8080
//
// With -remote, the same readers also read the path from another cluster
// node (the publisher stays on -rtmp's), in the same run.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// seiUUID marks our SEI payload (user data unregistered); no zero bytes,
// so no emulation prevention is needed.
var seiUUID = []byte("streamhub-clock!")

func main() {
	file := flag.String("h264", "", "Annex-B H.264 file with access unit delimiters (x264 aud=1), looped")
	fps := flag.Float64("fps", 30, "frame rate of the file")
	rtmpAddr := flag.String("rtmp", "127.0.0.1:1935", "streamhub RTMP address (publisher and reader)")
	rtspAddr := flag.String("rtsp", "127.0.0.1:8554", "streamhub RTSP address (reader), empty skips")
	httpURL := flag.String("http", "http://127.0.0.1:8080", "streamhub HTTP URL (WHEP reader), empty skips")
	remote := flag.String("remote", "", "another cluster node's RTMP,RTSP,HTTP addresses (as -rtmp, -rtsp, -http; empty parts skip): the same readers there too, named remote-*")
	path := flag.String("path", "live/latency", "media path")
	duration := flag.Duration("duration", 20*time.Second, "how long readers read")
	warmup := flag.Duration("warmup", 3*time.Second, "frames a reader receives this soon after it connects count as start-up")
	flag.Parse()
	if err := run(*file, *fps, *rtmpAddr, *rtspAddr, *httpURL, *remote, *path, *duration, *warmup); err != nil {
		log.Fatal(err)
	}
}

func run(file string, fps float64, rtmpAddr, rtspAddr, httpURL, remote, path string, duration, warmup time.Duration) error {
	aus, err := accessUnits(file)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	pubErr := make(chan error, 1)
	go func() { pubErr <- publishRTMP(ctx, "rtmp://"+rtmpAddr+"/"+path, aus, fps) }()

	readers := map[string]func(context.Context, func([][]byte)) error{}
	addReaders(readers, "", rtmpAddr, rtspAddr, httpURL, path)
	if remote != "" {
		addrs := strings.Split(remote+",,", ",")
		addReaders(readers, "remote-", addrs[0], addrs[1], addrs[2], path)
	}
	readCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var wg sync.WaitGroup
	results := map[string]*samples{}
	for name, read := range readers {
		s := &samples{warmup: warmup}
		results[name] = s
		wg.Go(func() { readUntilOnline(readCtx, name, s, read) })
	}
	wg.Wait()
	cancel()
	if err := <-pubErr; err != nil && !errors.Is(err, context.Canceled) {
		log.Printf("publisher: %v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(results)) {
		fmt.Println(name, results[name].summary())
	}
	return nil
}

// addReaders adds an RTMP, RTSP and WHEP reader of path at the given
// addresses (an empty one skips its reader), named prefix+protocol.
func addReaders(readers map[string]func(context.Context, func([][]byte)) error, prefix, rtmpAddr, rtspAddr, httpURL, path string) {
	if rtmpAddr != "" {
		readers[prefix+"rtmp"] = func(ctx context.Context, onAU func([][]byte)) error {
			return readRTMP(ctx, "rtmp://"+rtmpAddr+"/"+path, onAU)
		}
	}
	if rtspAddr != "" {
		readers[prefix+"rtsp"] = func(ctx context.Context, onAU func([][]byte)) error {
			return readRTSP(ctx, "rtsp://"+rtspAddr+"/"+path, onAU)
		}
	}
	if httpURL != "" {
		readers[prefix+"whep"] = func(ctx context.Context, onAU func([][]byte)) error {
			return readWHEP(ctx, httpURL+"/v1/whep/"+path, onAU)
		}
	}
}

// readUntilOnline retries read until the path is online (the server
// takes the publisher's first two seconds to learn its tracks), then
// reads until ctx ends; a reader's start-up counts from its last attempt.
func readUntilOnline(ctx context.Context, name string, s *samples, read func(context.Context, func([][]byte)) error) {
	for ctx.Err() == nil {
		s.restart()
		err := read(ctx, s.onAU)
		if ctx.Err() != nil {
			return
		}
		if s.received() {
			log.Printf("%s reader ended: %v", name, err)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// accessUnits splits an Annex-B file into access units at its delimiters
// (which are dropped).
func accessUnits(file string) ([][][]byte, error) {
	buf, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	nalus := splitAnnexB(buf)
	var aus [][][]byte
	var cur [][]byte
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
			if len(cur) > 0 {
				aus = append(aus, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, n)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	if len(aus) == 0 {
		return nil, fmt.Errorf("%s: no access units (encode with -x264-params aud=1)", file)
	}
	return aus, nil
}

// splitAnnexB cuts a whole Annex-B stream at its start codes (mediacommon's
// parser takes one access unit's worth of NAL units, not a file).
func splitAnnexB(buf []byte) [][]byte {
	startCode := []byte{0, 0, 1}
	var nalus [][]byte
	for {
		i := bytes.Index(buf, startCode)
		if i < 0 {
			if len(buf) > 0 && len(nalus) > 0 {
				nalus = append(nalus, buf)
			}
			return nalus
		}
		if len(nalus) > 0 || i > 0 {
			// a 4-byte start code leaves a zero at the end of the previous unit
			nalus = append(nalus, bytes.TrimRight(buf[:i], "\x00"))
		}
		buf = buf[i+len(startCode):]
	}
}

// stamped is au with an SEI NAL unit holding now first.
func stamped(au [][]byte, now time.Time) [][]byte {
	sei := []byte{byte(h264.NALUTypeSEI), 5, byte(len(seiUUID) + 16)}
	sei = append(sei, seiUUID...)
	sei = fmt.Appendf(sei, "%016x", now.UnixNano())
	sei = append(sei, 0x80) // rbsp trailing bits
	return append([][]byte{sei}, au...)
}

// sentAt finds the send time in an access unit's SEI, if any.
func sentAt(au [][]byte) (time.Time, bool) {
	for _, n := range au {
		if len(n) < 3+len(seiUUID)+16 || h264.NALUType(n[0]&0x1f) != h264.NALUTypeSEI {
			continue
		}
		i := bytes.Index(n, seiUUID)
		if i < 0 || len(n) < i+len(seiUUID)+16 {
			continue
		}
		ns, err := strconv.ParseInt(string(n[i+len(seiUUID):i+len(seiUUID)+16]), 16, 64)
		if err != nil {
			continue
		}
		return time.Unix(0, ns), true
	}
	return time.Time{}, false
}

// samples collects one reader's latencies.
type samples struct {
	start  time.Time
	warmup time.Duration

	mu     sync.Mutex
	first  time.Duration // connect to first stamped frame
	steady []time.Duration
	early  int
}

func (s *samples) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = time.Now()
}

func (s *samples) received() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first > 0
}

func (s *samples) onAU(au [][]byte) {
	now := time.Now()
	sent, ok := sentAt(au)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == 0 {
		s.first = now.Sub(s.start)
	}
	if now.Sub(s.start) < s.warmup {
		s.early++
		return
	}
	s.steady = append(s.steady, now.Sub(sent))
}

func (s *samples) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.steady) == 0 {
		return fmt.Sprintf("no frames after warm-up (first frame %v, %d early)", s.first, s.early)
	}
	d := slices.Sorted(slices.Values(s.steady))
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/float64(time.Millisecond)) }
	return fmt.Sprintf("first_frame_ms=%s frames=%d median_ms=%s p95_ms=%s max_ms=%s",
		ms(s.first), len(d), ms(d[len(d)/2]), ms(d[len(d)*95/100]), ms(d[len(d)-1]))
}
