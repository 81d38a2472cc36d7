package bridge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/core/hub"
	"streamhub/internal/core/message"
	"streamhub/internal/testkit"
)

// BenchmarkBridgeOut measures messages bridged from streamhub's hub to
// Mosquitto, received there by mosquitto_sub (another process, so that
// the CPU measured is the hub's and the bridge's): throughput, and the
// CPU time this process spent per message (user + system, getrusage).
//
//	go test -run XXX -bench BridgeOut -benchtime 100000x ./internal/bridge/
func BenchmarkBridgeOut(b *testing.B) {
	for _, v := range versions {
		for _, qos := range []int{0, 1} {
			b.Run(fmt.Sprintf("mqtt%s/qos%d", v, qos), func(b *testing.B) { benchOut(b, v, qos) })
		}
	}
}

// BenchmarkBridgeIn is BenchmarkBridgeOut the other way: mosquitto_pub
// (another process) publishes lines to Mosquitto, the bridge publishes
// them into the hub, where a subscription counts them.
//
//	go test -run XXX -bench BridgeIn -benchtime 100000x ./internal/bridge/
func BenchmarkBridgeIn(b *testing.B) {
	for _, v := range versions {
		for _, qos := range []int{0, 1} {
			b.Run(fmt.Sprintf("mqtt%s/qos%d", v, qos), func(b *testing.B) { benchIn(b, v, qos) })
		}
	}
}

func benchIn(b *testing.B, version string, qos int) {
	mq := testkit.StartMosquitto(b, testkit.MosquittoOptions{})
	s := testkit.Start(b, func(c *config.Config) {
		c.Data = ""
		c.Bridges = []config.Bridge{{Name: "bench", URL: mq.URL(), Version: version,
			In: []config.BridgeTopic{{Remote: "edge/in/#", Local: "in/#", QoS: qos}}}}
	})
	waitUp(b, s, true)
	sub := s.Hub().NewSubscription("bench", hub.QueueLimits{Messages: 1 << 24, Bytes: 1 << 32})
	if _, err := sub.Subscribe([]string{"in/#"}, hub.StartFrom{}); err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	lines := bytes.Repeat([]byte("012345678901234567890123456789012345678901234567890123456789012\n"), b.N)
	pub := exec.Command("mosquitto_pub", "-p", strconv.Itoa(mq.Port), "-t", "edge/in/x", "-q", strconv.Itoa(qos), "-l")
	pub.Stdin = bytes.NewReader(lines)
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	if err := pub.Start(); err != nil {
		b.Skipf("mosquitto_pub: %v", err)
	}
	pubDone := make(chan struct{})
	go func() { _ = pub.Wait(); close(pubDone) }()
	defer func() { <-pubDone }()
	// QoS 0 messages may be lost (Mosquitto drops them for a client that
	// falls behind): once the publisher is done, 5 s without a message
	// ends the count.
	var buf []hub.Delivery
	got, lost := 0, 0
	exited := (<-chan struct{})(pubDone)
	idle := time.NewTimer(5 * time.Minute)
	defer idle.Stop()
count:
	for got < b.N {
		select {
		case <-sub.Ready():
			buf = sub.Drain(buf[:0])
			got += len(buf)
		case <-exited:
			exited = nil
		case <-idle.C:
			lost = b.N - got
			break count
		}
		if exited == nil {
			idle.Reset(5 * time.Second)
		}
	}
	if lost > 0 && qos > 0 {
		b.Errorf("%d QoS %d messages lost", lost, qos)
	}
	b.ReportMetric(float64(lost), "lost")
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(max(got, 1)), "cpu-ns/msg")
}

func benchOut(b *testing.B, version string, qos int) {
	mq := testkit.StartMosquitto(b, testkit.MosquittoOptions{})
	s := testkit.Start(b, func(c *config.Config) {
		c.Data = "" // in memory: the hub's own costs stay out of it
		c.Bridges = []config.Bridge{{Name: "bench", URL: mq.URL(), Version: version, Queue: 1 << 22, Queuebytes: 1 << 30,
			Out: []config.BridgeTopic{{Local: "out/#", Remote: "edge/out/#", QoS: qos}}}}
	})
	waitUp(b, s, true)
	// A persistent session made first keeps what arrives before the
	// counting subscriber below is connected.
	subArgs := []string{"-p", strconv.Itoa(mq.Port), "-t", "edge/out/#", "-q", strconv.Itoa(qos), "-c", "-i", "bench-sub"}
	if out, err := exec.Command("mosquitto_sub", append(subArgs, "-E")...).CombinedOutput(); err != nil {
		b.Skipf("mosquitto_sub: %v %s", err, out)
	}
	sub := exec.Command("mosquitto_sub", append(subArgs, "-C", strconv.Itoa(b.N))...)
	out, err := sub.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		b.Fatal(err)
	}
	go io.Copy(io.Discard, out)
	payload := []byte("0123456789012345678901234567890123456789012345678901234567890123")[:64]
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		m := &message.Message{Topic: "out/" + strconv.Itoa(i%16), Payload: payload, QoS: 1}
		if _, err := s.Hub().Publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- sub.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			b.Fatal(err)
		}
	case <-time.After(5 * time.Minute):
		sub.Process.Kill()
		b.Fatal("mosquitto_sub did not receive every message")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
}

// cpuTime is this process's user and system CPU time, in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
