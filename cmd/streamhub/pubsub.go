package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"streamhub/internal/client"
	"streamhub/internal/codec/envelope"
)

func newPub() *cobra.Command {
	var server, file, contentType, ca string
	var retain bool
	cmd := &cobra.Command{
		Use:   "pub TOPIC [MESSAGE]",
		Short: "Publish a message, or each line of standard input",
		Long: `Publish MESSAGE to TOPIC. Without MESSAGE, each line of standard input is
published as one message (without its line ending), so
'tail -f app.log | streamhub pub logs/app' streams a log; Ctrl-C (or
SIGTERM) ends it, the lines already read having been sent. --file publishes a
file's whole content as one message ('-' for all of standard input).

--server takes http:// or https:// (HTTP publish), mqtt:// or mqtts://
(MQTT 3.1.1, QoS 1) and ws:// or wss:// (the WebSocket JSON protocol) URLs;
a user name and password in the URL are sent as credentials.`,
		Args: pubArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := dial(server, ca)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			opts := client.PublishOptions{Retain: retain, ContentType: contentType}
			topic := args[0]
			switch {
			case len(args) == 2:
				_, err := c.Publish(ctx, topic, []byte(args[1]), opts)
				return err
			case file != "":
				data, err := readPayload(file, cmd.InOrStdin())
				if err != nil {
					return err
				}
				_, err = c.Publish(ctx, topic, data, opts)
				return err
			}
			return publishLines(ctx, c, topic, cmd.InOrStdin(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", serverURL(), "server URL: http(s)://, mqtt(s):// or ws(s):// (env STREAMHUB_SERVER)")
	f.StringVarP(&file, "file", "f", "", "publish this file's content as one message ('-' for stdin)")
	f.StringVar(&contentType, "content-type", "", "content type of the payload")
	f.BoolVarP(&retain, "retain", "r", false, "retain the message on its topic")
	caFlag(cmd, &ca)
	return cmd
}

// caFlag adds --ca, for servers whose certificate is self-signed.
func caFlag(cmd *cobra.Command, ca *string) {
	cmd.Flags().StringVar(ca, "ca", "", "PEM file of a certificate to trust besides the system's, e.g. the server's self-signed one (https, mqtts, wss)")
}

// dial connects to server, trusting the certificate in the file ca too.
func dial(server, ca string) (client.Conn, error) {
	var opts client.Options
	if ca != "" {
		tc, err := client.TrustCA(ca)
		if err != nil {
			return nil, err
		}
		opts.TLS = tc
	}
	return client.Dial(server, opts)
}

// pubArgs accepts TOPIC [MESSAGE]; more words are most likely an unquoted
// message, which the error says how to send.
func pubArgs(_ *cobra.Command, args []string) error {
	switch {
	case len(args) == 0:
		return errors.New("pub needs a TOPIC (and a MESSAGE, or lines on standard input)")
	case len(args) > 2:
		return fmt.Errorf("pub takes TOPIC and one MESSAGE, got %d words after the topic: did you mean to quote the message? streamhub pub %s '%s'",
			len(args)-1, args[0], strings.Join(args[1:], " "))
	}
	return nil
}

func readPayload(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read payload from standard input: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read payload: %w", err)
	}
	return data, nil
}

// publishLines publishes each line of in until it ends or ctx does (Ctrl-C):
// a terminal's read cannot be interrupted, so lines are read on their own
// goroutine, and a line read when ctx ends is still sent.
func publishLines(ctx context.Context, c client.Conn, topic string, in io.Reader, opts client.PublishOptions) error {
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { readErr <- readLines(in, lines) }()
	for {
		select {
		case line := <-lines:
			_, err := c.Publish(ctx, topic, []byte(line), opts)
			if err != nil && ctx.Err() != nil {
				return publishInterrupted(c, topic, line, opts)
			}
			if err != nil {
				return err
			}
		case err := <-readErr:
			return err
		case <-ctx.Done():
			return sendPending(c, topic, lines, opts)
		}
	}
}

// sendPending publishes the line the reader holds, if any, when publishing
// is interrupted.
func sendPending(c client.Conn, topic string, lines <-chan string, opts client.PublishOptions) error {
	select {
	case line := <-lines:
		return publishInterrupted(c, topic, line, opts)
	default:
		return nil
	}
}

// publishInterrupted publishes a line read before Ctrl-C on a context of
// its own: the user asked to stop reading, not to lose what was typed.
func publishInterrupted(c client.Conn, topic, line string, opts client.PublishOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Publish(ctx, topic, []byte(line), opts)
	return err
}

// readLines sends each line of in, without its line ending, to lines.
func readLines(in io.Reader, lines chan<- string) error {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 {
			lines <- strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
}

func newSub() *cobra.Command {
	var server, format, cursor, ca string
	var count int
	var noRetained bool
	var retryFor time.Duration
	cmd := &cobra.Command{
		Use:   "sub FILTER...",
		Short: "Print messages on topics matching the filters",
		Long: `Subscribe to one or more topic filters ('+' matches one level, '#' the rest)
and print each message: its raw payload and a newline by default, or one
JSON envelope per line with --format json. Retained messages come first.
After a disconnect it reconnects and resumes from the last message it printed.

--server takes http:// or https:// (the NDJSON stream), mqtt:// or mqtts://
(MQTT 3.1.1, QoS 1; no cursors) and ws:// or wss:// (the WebSocket JSON
protocol) URLs; a user name and password in the URL are sent as credentials.
While the server cannot be reached, each retry is reported on standard error
with the URL and the error; after --retry-for without a connection sub exits
with status 1 (0: retry until Ctrl-C).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "raw" && format != "json" {
				return fmt.Errorf("--format %q: want raw or json", format)
			}
			c, err := dial(server, ca)
			if err != nil {
				return err
			}
			defer c.Close()
			out := bufio.NewWriter(cmd.OutOrStdout())
			n := 0
			opts := client.SubscribeOptions{Cursor: cursor, NoRetained: noRetained, RetryFor: retryFor,
				Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))}
			return c.Subscribe(cmd.Context(), args, opts, func(e envelope.Envelope, line []byte) error {
				if format == "json" {
					out.Write(line)
				} else {
					p, err := e.PayloadBytes()
					if err != nil {
						return err
					}
					out.Write(p)
				}
				out.WriteByte('\n')
				if err := out.Flush(); err != nil {
					return err
				}
				if n++; count > 0 && n >= count {
					return client.ErrStop
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", serverURL(), "server URL: http(s)://, mqtt(s):// or ws(s):// (env STREAMHUB_SERVER)")
	f.DurationVar(&retryFor, "retry-for", 30*time.Second, "give up when the server stays unreachable this long (0: never)")
	f.StringVar(&format, "format", "raw", "raw (payload per line) or json (envelope per line)")
	f.StringVar(&cursor, "cursor", "", "resume after this cursor")
	f.IntVarP(&count, "count", "C", 0, "exit after this many messages")
	f.BoolVar(&noRetained, "no-retained", false, "skip retained messages")
	caFlag(cmd, &ca)
	return cmd
}
