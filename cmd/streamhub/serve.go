package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"streamhub/internal/config"
	"streamhub/internal/server"
)

func newServe() *cobra.Command {
	var configPath, httpAddr, dataDir, logLevel, logFormat, tcpAddr, mqttAddr, rtmpAddr, rtspAddr, webrtcUDP string
	var tcpIn, tcpOut, tcpInDial, tcpOutDial, durable, clusterURLs []string
	var node string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server. Settings come from, in increasing precedence: built-in defaults
(localhost only, in memory), the YAML file given by --config or
$STREAMHUB_CONFIG (see streamhub.example.yaml for every key), STREAMHUB_*
environment variables (key path in upper case, levels joined by '_', e.g.
STREAMHUB_HTTP_ADDR, STREAMHUB_HISTORY_MESSAGES), and these flags. An
unknown key or STREAMHUB_* variable is an error naming the nearest known one.

SIGINT or SIGTERM shuts down gracefully: listeners close, every stream gets
its protocol's going-away signal, and the process exits once they are done.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				configPath = os.Getenv("STREAMHUB_CONFIG")
			}
			cfg, err := config.Load(configPath, os.Environ())
			if err != nil {
				return err
			}
			flags := cmd.Flags()
			if flags.Changed("http") {
				cfg.HTTP.Addr = httpAddr
			}
			if flags.Changed("data") {
				cfg.Data = dataDir
			}
			if flags.Changed("log-level") {
				cfg.Log.Level = logLevel
			}
			if flags.Changed("log-format") {
				cfg.Log.Format = logFormat
			}
			if flags.Changed("mqtt") {
				cfg.MQTT.Addr = mqttAddr
			}
			if flags.Changed("rtmp") {
				cfg.RTMP.Addr = rtmpAddr
			}
			if flags.Changed("webrtc-udp") {
				cfg.WebRTC.UDP = webrtcUDP
			}
			if flags.Changed("rtsp") {
				cfg.RTSP.Addr = rtspAddr
			}
			if flags.Changed("cluster") {
				cfg.Cluster.URLs = clusterURLs
			}
			if flags.Changed("node") {
				cfg.Cluster.Node = node
			}
			for _, f := range durable {
				cfg.Durable.Streams = append(cfg.Durable.Streams, config.DurableStream{Filter: f})
			}
			if flags.Changed("tcp") {
				cfg.TCP.Addr = tcpAddr
			}
			for name, dst := range map[string]*[]string{"tcp-in": &cfg.TCP.In, "tcp-out": &cfg.TCP.Out,
				"tcp-in-dial": &cfg.TCP.Indial, "tcp-out-dial": &cfg.TCP.Outdial} {
				if flags.Changed(name) {
					v, _ := flags.GetStringArray(name)
					*dst = v
				}
			}
			log, err := newLogger(cfg.Log)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cfg, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML configuration file (env STREAMHUB_CONFIG)")
	f.StringVar(&httpAddr, "http", config.Defaults().HTTP.Addr, "HTTP listen address (env STREAMHUB_HTTP_ADDR)")
	f.StringVar(&dataDir, "data", "", "data directory (env STREAMHUB_DATA)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error (env STREAMHUB_LOG_LEVEL)")
	f.StringVar(&logFormat, "log-format", "text", "text or json (env STREAMHUB_LOG_FORMAT)")
	f.StringArrayVar(&durable, "durable", nil,
		"store topics matching FILTER durably, with the default retention (repeatable; needs --data; env STREAMHUB_DURABLE_STREAMS)")
	f.StringSliceVar(&clusterURLs, "cluster", nil,
		"join the nodes sharing these NATS servers: nats://HOST:PORT[,nats://...] (env STREAMHUB_CLUSTER_URLS; docs/CLUSTER.md)")
	f.StringVar(&node, "node", "", "this node's name in the cluster (env STREAMHUB_CLUSTER_NODE)")
	f.StringVar(&mqttAddr, "mqtt", config.Defaults().MQTT.Addr, "MQTT listen address, empty to disable (env STREAMHUB_MQTT_ADDR)")
	f.StringVar(&rtmpAddr, "rtmp", config.Defaults().RTMP.Addr, "RTMP listen address (publish and play media paths), empty to disable (env STREAMHUB_RTMP_ADDR)")
	f.StringVar(&webrtcUDP, "webrtc-udp", config.Defaults().WebRTC.UDP, "the one UDP address of every WebRTC peer (data channels, WHEP, WHIP), empty to disable (env STREAMHUB_WEBRTC_UDP)")
	f.StringVar(&rtspAddr, "rtsp", config.Defaults().RTSP.Addr, "RTSP listen address (publish and play media paths; UDP on the next two ports), empty to disable (env STREAMHUB_RTSP_ADDR)")
	f.StringVar(&tcpAddr, "tcp", "", "text protocol listen address, e.g. 127.0.0.1:7000 (env STREAMHUB_TCP_ADDR)")
	f.StringArrayVar(&tcpIn, "tcp-in", nil,
		"listen on ADDR; each connection's input becomes messages on TOPIC: ADDR=TOPIC[?framing=lines|length|raw] (repeatable)")
	f.StringArrayVar(&tcpOut, "tcp-out", nil,
		"listen on ADDR; write each message matching the filters to every connection: ADDR=FILTER[,FILTER][?framing=...] (repeatable)")
	f.StringArrayVar(&tcpInDial, "tcp-in-dial", nil, "connect to ADDR and publish what it sends on TOPIC: ADDR=TOPIC[?framing=...] (repeatable)")
	f.StringArrayVar(&tcpOutDial, "tcp-out-dial", nil,
		"connect to ADDR and write each matching message to it, reconnecting with backoff: ADDR=FILTER[,FILTER][?framing=...] (repeatable)")
	return cmd
}

func newLogger(cfg config.Log) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.Level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.Level, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.Format, "json") {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

func run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "timeout", cfg.Shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
