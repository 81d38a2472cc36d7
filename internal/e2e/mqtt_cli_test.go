package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"streamhub/internal/testkit"
)

func mosquittoTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skip(name + " not on PATH: scripts/test.sh installs mosquitto-clients")
	}
	return p
}

func mqttPort(s *testkit.Server) string {
	_, port, _ := net.SplitHostPort(s.MQTT().Addr("mqtt").String())
	return port
}

// TestMosquittoClients runs Debian's mosquitto_pub and mosquitto_sub
// against streamhub as MQTT 3.1.1 and 5: QoS 0, 1 and 2, retained
// messages, and a will published when a client dies.
func TestMosquittoClients(t *testing.T) {
	t.Parallel()
	sub, pub := mosquittoTool(t, "mosquitto_sub"), mosquittoTool(t, "mosquitto_pub")
	s := testkit.Start(t, nil)
	port := mqttPort(s)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for _, version := range []string{"mqttv311", "mqttv5"} {
		for qos := range 3 {
			topicName := fmt.Sprintf("cli/%s/q%d", version, qos)
			sc := exec.CommandContext(ctx, sub, "-p", port, "-V", version, "-q", fmt.Sprint(qos), "-t", topicName, "-C", "1", "-W", "20")
			out := &strings.Builder{}
			sc.Stdout = out
			if err := sc.Start(); err != nil {
				t.Fatal(err)
			}
			s.WaitSubscribers(t, topicName, 1)
			if b, err := exec.CommandContext(ctx, pub, "-p", port, "-V", version, "-q", fmt.Sprint(qos), "-t", topicName,
				"-m", "payload "+topicName).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub: %v %s", err, b)
			}
			if err := sc.Wait(); err != nil {
				t.Fatalf("mosquitto_sub %s qos %d: %v", version, qos, err)
			}
			if got := strings.TrimSpace(out.String()); got != "payload "+topicName {
				t.Errorf("%s qos %d: got %q", version, qos, got)
			}
		}
		// Retained: published first, received by a later subscriber.
		topicName := "cli/" + version + "/retained"
		if b, err := exec.CommandContext(ctx, pub, "-p", port, "-V", version, "-q", "1", "-r", "-t", topicName, "-m", "kept").CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, b)
		}
		b, err := exec.CommandContext(ctx, sub, "-p", port, "-V", version, "-t", "cli/"+version+"/+", "-C", "1", "-W", "10", "-v").Output()
		if err != nil || strings.TrimSpace(string(b)) != topicName+" kept" {
			t.Errorf("%s retained: %q %v", version, b, err)
		}
		// Will: a subscriber that dies without DISCONNECT leaves its will.
		willTopic := "cli/" + version + "/will"
		watcher := exec.CommandContext(ctx, sub, "-p", port, "-V", version, "-t", willTopic, "-C", "1", "-W", "20")
		wout := &strings.Builder{}
		watcher.Stdout = wout
		watcher.Start()
		dying := exec.CommandContext(ctx, sub, "-p", port, "-V", version, "-t", "cli/"+version+"/nothing", "--will-topic", willTopic,
			"--will-payload", "gone", "--will-qos", "1")
		dying.Start()
		s.WaitSubscribers(t, willTopic, 1)
		s.WaitSubscribers(t, "cli/"+version+"/nothing", 1)
		dying.Process.Kill()
		dying.Wait()
		if err := watcher.Wait(); err != nil || strings.TrimSpace(wout.String()) != "gone" {
			t.Errorf("%s will: %q %v", version, wout.String(), err)
		}
	}
}
