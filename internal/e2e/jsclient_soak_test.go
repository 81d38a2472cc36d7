package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// TestStreamHubJSSoak is the measurement, run on request
// (STREAMHUB_JS_SOAK=ROUNDS, e.g. 100): streamhub.js (in Node) subscribed
// to a durable topic while a publisher sends 10 msg/s and the server is
// restarted after every second of it, the client forced onto another
// transport order every second. It reports missed and doubled messages,
// and fails on any.
func TestStreamHubJSSoak(t *testing.T) {
	rounds, _ := strconv.Atoi(os.Getenv("STREAMHUB_JS_SOAK"))
	if rounds <= 0 {
		t.Skip("a measurement: set STREAMHUB_JS_SOAK=ROUNDS (docs/BENCHMARKS.md ran 100)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	module, _ := filepath.Abs("../../clients/js/streamhub.js")
	durable := durableConfig(t.TempDir(), config.DurableStream{Filter: "soak/#"})
	s := testkit.StartOn(t, testkit.Pebble, durable)
	addr := s.Addr()

	ctx, cancel := context.WithTimeout(t.Context(), time.Duration(rounds)*10*time.Second+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--no-warnings", "testdata/jsclient_soak.mjs", module, s.URL, "1000")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu                       sync.Mutex
		got                      = map[int]int{}
		received, gaps, connects int
		switches                 = map[string]int{}
		duplicates               = -1
		errs                     = map[string]int{}
		last                     string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			kind, arg, _ := strings.Cut(sc.Text(), " ")
			if os.Getenv("STREAMHUB_JS_SOAK_TRACE") != "" {
				t.Log(sc.Text())
			}
			mu.Lock()
			switch kind {
			case "msg":
				n, _ := strconv.Atoi(arg)
				got[n]++
				received++
			case "gap":
				gaps++
			case "error":
				errs[arg]++
			case "connected":
				connects++
				if arg != last {
					switches[last+"→"+arg]++
					last = arg
				}
			case "duplicates":
				duplicates, _ = strconv.Atoi(arg)
			}
			mu.Unlock()
		}
	}()
	testkit.Eventually(t, 30*time.Second, "the client to connect", func() bool { mu.Lock(); defer mu.Unlock(); return connects > 0 })

	sent := 0
	tick := time.NewTicker(100 * time.Millisecond) // 10 msg/s
	defer tick.Stop()
	for r := 0; r < rounds; r++ {
		for range 10 {
			<-tick.C
			sent++
			httpPublish(t, s.URL, "soak/x", []byte(strconv.Itoa(sent)), "")
		}
		s.Stop(t)
		s = testkit.StartOn(t, testkit.Pebble, func(c *config.Config) { durable(c); c.HTTP.Addr = addr })
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("at the end: %d of %d distinct, %d connections, on %s", len(got), sent, connects, last)
		}
	}()
	testkit.Eventually(t, 60*time.Second, "every message", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= sent })
	stdin.Close()
	<-done
	cmd.Wait()

	missed, doubled := 0, 0
	for i := 1; i <= sent; i++ {
		switch got[i] {
		case 0:
			missed++
		case 1:
		default:
			doubled += got[i] - 1
		}
	}
	t.Logf("%d restarts, %d connections, transport changes %v, %d sent, %d received: %d missed, %d doubled, %d gaps, %d duplicates dropped by the client; errors seen: %v",
		rounds, connects, switches, sent, received, missed, doubled, gaps, duplicates, errs)
	if missed > 0 || doubled > 0 || gaps > 0 {
		t.Errorf("%d missed, %d doubled, %d gaps", missed, doubled, gaps)
	}
}
