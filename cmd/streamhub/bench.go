package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"streamhub/internal/bench"
	"streamhub/internal/client"
)

func newBench() *cobra.Command {
	var cfg bench.Config
	var version int
	var qos int
	var asJSON bool
	var ca string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a broker: throughput, latency and idle connections over MQTT, raw TCP, SSE, NDJSON, WebSocket or NATS",
		Long: `Generate load against streamhub or any MQTT broker and report delivered
messages per second, latency percentiles, and (with --pid) the server's CPU
time per delivered message and memory per connection, read from /proc.

Scenarios: 1to1 (--clients pairs, each on its own topic), fanin (--clients
publishers, one subscriber), fanout (one publisher, --clients subscribers),
pubsub (--clients MQTT connections, each subscribed to its own topic and
publishing to it), latency (one publisher at --rate for --duration), idle (hold --clients
connections), storm (time to connect --clients at once).

Throughput publishers keep at most 500 messages in flight to any
subscriber, so that brokers are compared at their delivery rate; with
--unpaced they send as fast as they can, and what a broker's queue limits
drop shows as lost messages (a run ends 2 s after deliveries stop).

--target is mqtt://HOST:PORT, mqtts://HOST:PORT (MQTT over TLS; --ca for a
self-signed server), mqtt+ws://HOST:PORT/mqtt or mqtt+wss:// (MQTT over
WebSocket), tcp://HOST:PORT (streamhub's raw TCP text protocol, --tcp),
ws://HOST:PORT/v1/ws/{topic} (plain WebSocket both ways),
json+ws://HOST:PORT/v1/ws (subscribers on the WebSocket JSON protocol),
nats://HOST:PORT (NATS's own protocol, topics as subjects), or for SSE a
subscribe URL with {topic}, &format=ndjson for NDJSON (then --publish is
the HTTP publish URL with {topic}, which a ws:// target may use too), e.g.
  --target 'http://127.0.0.1:8080/v1/subscribe?topic={topic}'
  --publish 'http://127.0.0.1:8080/v1/publish/{topic}'
--subscribe sends subscribers elsewhere (cross-protocol): publish over MQTT
or TCP, receive over SSE, WebSocket (ws://...{topic}) or TCP. A
comma-separated --subscribe list spreads the subscribers over its servers in
turn, e.g. the nodes of a cluster (latency: one subscriber on each).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Version, cfg.QoS = byte(version), byte(qos)
			if ca != "" {
				tc, err := client.TrustCA(ca)
				if err != nil {
					return err
				}
				cfg.TLS = tc
			}
			stderr := cmd.ErrOrStderr()
			progress := func(done, total int64) {
				if total > 0 {
					fmt.Fprintf(stderr, "\r%s %s: %d/%d (%.0f%%)   ", cfg.Scenario, cfg.Target, done, total, 100*float64(done)/float64(total))
				}
			}
			res, err := bench.Run(cmd.Context(), cfg, progress)
			fmt.Fprintln(stderr)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "scenario\tdelivered\texpected\tlost\tseconds\tdelivered/s\tp50\tp99\tp99.9\tserver CPU/msg\tserver mem/conn")
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%.2f\t%.0f\t%v\t%v\t%v\t%v\t%d B\n", res.Scenario, res.Received, res.Expected, res.Lost, res.Seconds,
				res.PerSecond, res.P50.Round(time.Microsecond), res.P99.Round(time.Microsecond), res.P999.Round(time.Microsecond),
				res.CPUPerMessage, res.MemPerConn)
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Target, "target", "mqtt://127.0.0.1:1883", "mqtt://, mqtts://, mqtt+ws://, tcp://, ws://, json+ws://, nats:// (see above), or an SSE subscribe URL with {topic}")
	f.StringVar(&cfg.Publish, "publish", "", "HTTP publish URL with {topic}, for SSE targets")
	f.StringVar(&cfg.SubTarget, "subscribe", "", "subscribers connect here instead of --target: an SSE URL, ws:// URL with {topic}, or tcp://HOST:PORT (cross-protocol); a comma-separated list spreads them")
	f.IntVar(&version, "mqtt-version", 4, "MQTT protocol level: 4 (3.1.1) or 5")
	f.StringVar(&cfg.Scenario, "scenario", "1to1", "1to1, fanin, fanout, pubsub, latency, idle or storm")
	f.BoolVar(&cfg.Unpaced, "unpaced", false, "throughput publishers send as fast as they can (losses show as lost)")
	f.IntVar(&cfg.HTTPPublishers, "http-publishers", 8, "connections POSTing to --publish at once; 1 publishes one message after another")
	f.IntVar(&cfg.Clients, "clients", 10, "pairs, publishers, subscribers or connections, by scenario")
	f.IntVar(&cfg.Messages, "messages", 100000, "messages published in total")
	f.IntVar(&cfg.Size, "size", 100, "payload bytes")
	f.IntVar(&qos, "qos", 0, "MQTT QoS of publishes and subscriptions")
	f.IntVar(&cfg.Rate, "rate", 10000, "messages per second (latency)")
	f.DurationVar(&cfg.Duration, "duration", 5*time.Second, "latency run time, idle hold time")
	f.IntVar(&cfg.PID, "pid", 0, "server process id, for CPU per message and memory per connection")
	f.DurationVar(&cfg.Timeout, "timeout", 2*time.Minute, "give up waiting for deliveries after this")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	caFlag(cmd, &ca)
	return cmd
}
