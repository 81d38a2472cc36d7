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
		Long: `streamhub is one server that joins protocols on one topic namespace: publish over
HTTP or WebSocket, subscribe over Server-Sent Events, NDJSON streaming, long
polling or WebSocket. Topics use MQTT's rules: '/'-separated levels, '+' and
'#' wildcards in filters.`,
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
