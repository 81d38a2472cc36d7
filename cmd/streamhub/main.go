// Command streamhub is the streamhub server and its command-line clients.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "streamhub:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "streamhub",
		Short: "Stream data between any devices, apps and platforms, whatever protocol each speaks",
		Long: `streamhub is one server that joins protocols on one topic namespace; a message
published over any of them reaches subscribers on all of them:

  MQTT 3.1.1 and MQTT 5   over TCP, TLS and WebSocket (/mqtt)
  HTTP                    publish with POST /v1/publish/TOPIC
  Server-Sent Events      GET /v1/subscribe (EventSource)
  NDJSON streaming        GET /v1/subscribe with Accept: application/x-ndjson
  long polling            GET /v1/poll
  WebSocket               plain (/v1/ws/TOPIC) and JSON protocol (/v1/ws)
  TCP text protocol       PUB/SUB lines, optionally over TLS
  raw TCP                 ports whose bytes become messages, and ports messages are written to

Topics use MQTT's rules: '/'-separated levels, '+' and '#' wildcards in
filters. 'streamhub pub' and 'streamhub sub' speak HTTP, MQTT or WebSocket.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServe(), newPub(), newSub(), newBench())
	return root
}

// serverURL is the --server default: $STREAMHUB_SERVER or localhost.
func serverURL() string {
	if v := os.Getenv("STREAMHUB_SERVER"); v != "" {
		return v
	}
	return "http://127.0.0.1:8080"
}
