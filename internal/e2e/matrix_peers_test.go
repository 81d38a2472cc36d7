package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// The matrix's MQTT and raw TCP rows, driven by peers that are not Go:
// Debian's mosquitto_pub and mosquitto_sub, and python3 standard-library
// sockets on raw TCP ports with 4-byte length framing (the framing that
// carries any bytes, the empty payload included).

// withRawTCPPorts adds, for the publisher named pub, a length-framed raw
// TCP in port on its topic and out port on its filter.
func withRawTCPPorts(t *testing.T, pub string) func(*config.Config) {
	in, out := testkit.FreePort(t), testkit.FreePort(t)
	return func(c *config.Config) {
		c.TCP.In = append(c.TCP.In, fmt.Sprintf("127.0.0.1:%d=matrix/%s/data?framing=length", in, pub))
		c.TCP.Out = append(c.TCP.Out, fmt.Sprintf("127.0.0.1:%d=matrix/%s/+?framing=length", out, pub))
	}
}

// rawTCPPort is the port of the spec among specs that carries topics.
func rawTCPPort(t *testing.T, specs []string, topics string) string {
	t.Helper()
	for _, sp := range specs {
		addr, rest, _ := strings.Cut(sp, "=")
		if strings.TrimSuffix(rest, "?framing=length") == topics {
			return addr[strings.LastIndexByte(addr, ':')+1:]
		}
	}
	t.Fatalf("no raw TCP port for %s in %q", topics, specs)
	return ""
}

// rawTCPPublisher sends each payload as one length-prefixed frame, from
// python3, on a connection of its own that it closes.
func rawTCPPublisher() publisher {
	return publisher{"raw-tcp", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		port := rawTCPPort(t, s.Config.TCP.In, topic)
		return func(p []byte) {
			frame := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
			wait, _ := peer(t, t.Context(), "send", port, writeTemp(t, append(frame, p...)))
			wait()
		}
	}}
}

// rawTCPSubscriber reads length-prefixed frames with python3, which prints
// each payload as a line of hex.
func rawTCPSubscriber() subscriber {
	return subscriber{"raw-tcp", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		port := rawTCPPort(t, s.Config.TCP.Out, filter)
		cmd := exec.CommandContext(ctx, python(t), "-u", "testdata/tcppeer.py", "recv-frames", port)
		startReading(t, cmd, func(r io.Reader) {
			readHexLines(r, c, func(line string) (string, string) { return "", line })
		})
	}}
}

// mosquittoPublisher publishes each payload at QoS 1 with mosquitto_pub,
// which returns once the server acknowledged it: payloads arrive in order.
func mosquittoPublisher() publisher {
	return publisher{"mosquitto", func(t *testing.T, s *testkit.Server, topic string) func([]byte) {
		pub := mosquittoTool(t, "mosquitto_pub")
		return func(p []byte) {
			args := []string{"-h", "127.0.0.1", "-p", mqttPort(s), "-q", "1", "-t", topic}
			if len(p) == 0 {
				args = append(args, "-n") // -f of an empty file is refused
			} else {
				args = append(args, "-f", writeTemp(t, p))
			}
			if out, err := exec.CommandContext(t.Context(), pub, args...).CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub: %v\n%s", err, out)
			}
		}
	}}
}

// mosquittoSubscriber subscribes at QoS 1 with mosquitto_sub, printing
// each message as its topic and its payload in hex.
func mosquittoSubscriber() subscriber {
	return subscriber{"mosquitto", true, func(ctx context.Context, t *testing.T, s *testkit.Server, filter string, c *collector) {
		cmd := exec.CommandContext(ctx, mosquittoTool(t, "mosquitto_sub"),
			"-h", "127.0.0.1", "-p", mqttPort(s), "-q", "1", "-t", filter, "-F", "%t %x")
		startReading(t, cmd, func(r io.Reader) {
			readHexLines(r, c, func(line string) (string, string) {
				topic, payload, _ := strings.Cut(line, " ")
				return topic, payload
			})
		})
	}}
}

// startReading starts cmd and hands its output to read, on a goroutine
// that reaps cmd once read returns.
func startReading(t *testing.T, cmd *exec.Cmd, read func(io.Reader)) {
	t.Helper()
	cmd.WaitDelay = time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer cmd.Wait()
		read(out)
	}()
}

// readHexLines collects one message per line; split returns a line's
// topic and hex payload.
func readHexLines(r io.Reader, c *collector, split func(string) (string, string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		if sc.Text() == "connected" {
			continue
		}
		topic, h := split(sc.Text())
		p, err := hex.DecodeString(h)
		if err != nil {
			c.fail(fmt.Errorf("bad hex line %.40q: %w", sc.Text(), err))
			return
		}
		c.add(topic, p)
	}
	if err := sc.Err(); err != nil {
		c.fail(fmt.Errorf("reading hex lines: %w", err))
	}
}
