package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho3 "github.com/eclipse/paho.mqtt.golang"
)

// runningServer is the streamhub binary started as a user would.
type runningServer struct {
	cmd        *exec.Cmd
	url, mqtt  string
	stderrDone chan struct{}
}

// serveArgs are the arguments of `streamhub serve` on loopback ports the
// kernel picks, in memory as a user starts it, or with dataDir ("" for
// none), followed by extra.
func serveArgs(dataDir string, extra ...string) []string {
	args := []string{"serve", "--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0", "--rtmp", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0"}
	if dataDir != "" {
		args = append(args, "--data", dataDir)
	}
	return append(args, extra...)
}

// startBinary runs the binary (serveArgs) until the test ends and returns
// once it has said where it listens.
func startBinary(t *testing.T, dataDir string, args ...string) *runningServer {
	t.Helper()
	cmd := exec.Command(cliPath, serveArgs(dataDir, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rs := &runningServer{cmd: cmd, stderrDone: make(chan struct{})}
	var (
		logMu sync.Mutex
		log   []string
	)
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if !t.Failed() {
			return
		}
		select {
		case <-rs.stderrDone:
		case <-time.After(5 * time.Second):
		}
		logMu.Lock()
		defer logMu.Unlock()
		t.Logf("the server's last %d log lines:\n%s", len(log), strings.Join(log, "\n"))
	})
	sc := bufio.NewScanner(stderr)
	for (rs.url == "" || rs.mqtt == "") && sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if strings.Contains(line, "transport=mqtt ") {
			if i := strings.Index(line, "addr="); i >= 0 {
				rs.mqtt = strings.Fields(line[i+5:])[0]
			}
		}
		if i := strings.Index(line, "url=http://"); i >= 0 {
			rs.url = strings.Fields(line[i+4:])[0]
		}
	}
	if rs.url == "" || rs.mqtt == "" {
		t.Fatalf("server did not print its addresses:\n%s", strings.Join(log, "\n"))
	}
	// The tail of the log is kept for a failing test to show.
	const keep = 300
	go func() {
		defer close(rs.stderrDone)
		for sc.Scan() {
			logMu.Lock()
			if len(log) == keep {
				log = append(log[:0], log[keep/2:]...)
			}
			log = append(log, sc.Text())
			logMu.Unlock()
		}
		io.Copy(io.Discard, stderr) //nolint:errcheck // a line past the scanner's limit
	}()
	return rs
}

// acked records what a publisher got acknowledged, in order.
type acked struct {
	mu  sync.Mutex
	ids []int
}

func (a *acked) add(i int) {
	a.mu.Lock()
	a.ids = append(a.ids, i)
	a.mu.Unlock()
}

// TestCrashSafety publishes QoS 1 messages over MQTT and HTTP into a
// durable stream while the server is killed with SIGKILL at a random
// moment; after a restart, every acknowledged message is in the replay
// exactly once and in order. Repeated with several seeds.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the server")
	}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			dir := t.TempDir()
			srv := startBinary(t, dir, "--durable", "crash/#")
			var viaHTTP, viaMQTT acked
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 2 { // two HTTP publishers share one topic; ids are distinct
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := &http.Client{Timeout: 5 * time.Second}
					for i := w; ; i += 2 {
						select {
						case <-stop:
							return
						default:
						}
						resp, err := client.Post(srv.url+"/v1/publish/crash/http", "text/plain", strings.NewReader(strconv.Itoa(i)))
						if err != nil {
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							return
						}
						viaHTTP.add(i)
					}
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := paho3.NewClient(paho3.NewClientOptions().AddBroker("tcp://" + srv.mqtt).SetClientID("crash-pub").
					SetAutoReconnect(false).SetConnectRetry(false))
				if tok := c.Connect(); tok.Wait() && tok.Error() != nil {
					return
				}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					tok := c.Publish("crash/mqtt", 1, false, strconv.Itoa(i))
					if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
						return
					}
					viaMQTT.add(i)
				}
			}()
			time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
			srv.cmd.Process.Signal(syscall.SIGKILL)
			srv.cmd.Wait()
			close(stop)
			wg.Wait()
			if len(viaHTTP.ids) == 0 || len(viaMQTT.ids) == 0 {
				t.Fatalf("nothing acknowledged before the kill: http %d mqtt %d", len(viaHTTP.ids), len(viaMQTT.ids))
			}

			srv = startBinary(t, dir, "--durable", "crash/#")
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			epoch := strings.Split(publishCursor(t, srv.url, "probe", "x"), "-")[0]
			stored := map[string][]int{}
			cursor := epoch + "-0"
			for {
				a, err := poll(ctx, srv.url, "crash/#", cursor, "0")
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range a.Messages {
					n, _ := strconv.Atoi(e.Payload)
					stored[e.Topic] = append(stored[e.Topic], n)
				}
				if len(a.Messages) == 0 || a.Cursor == cursor {
					break
				}
				cursor = a.Cursor
			}
			check := func(name string, got []int, ack *acked) {
				seen := map[int]int{}
				for _, n := range got {
					seen[n]++
				}
				for _, n := range ack.ids {
					if seen[n] != 1 {
						t.Errorf("%s: acknowledged message %d stored %d times", name, n, seen[n])
					}
				}
				for n, k := range seen {
					if k > 1 {
						t.Errorf("%s: message %d stored %d times", name, n, k)
					}
				}
				t.Logf("%s: %d acknowledged, %d stored", name, len(ack.ids), len(got))
			}
			check("http", stored["crash/http"], &viaHTTP)
			check("mqtt", stored["crash/mqtt"], &viaMQTT)
			// Order: each MQTT publisher's and each HTTP worker's messages keep their order.
			mq := stored["crash/mqtt"]
			for i := 1; i < len(mq); i++ {
				if mq[i] <= mq[i-1] {
					t.Fatalf("MQTT messages out of order at %d: %v", i, mq[max(0, i-3):i+1])
				}
			}
			last := map[int]int{0: -1, 1: -1}
			for _, n := range stored["crash/http"] {
				if n <= last[n%2] {
					t.Fatalf("HTTP worker %d out of order: %d after %d", n%2, n, last[n%2])
				}
				last[n%2] = n
			}
		})
	}
}
