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

	"github.com/spf13/cobra"

	"streamhub/internal/client"
	"streamhub/internal/envelope"
)

func newPub() *cobra.Command {
	var server, file, contentType string
	var retain bool
	cmd := &cobra.Command{
		Use:   "pub TOPIC [MESSAGE]",
		Short: "Publish a message, or each line of standard input",
		Long: `Publish MESSAGE to TOPIC. Without MESSAGE, each line of standard input is
published as one message (without its line ending), so
'tail -f app.log | streamhub pub logs/app' streams a log. --file publishes a
file's whole content as one message ('-' for all of standard input).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.New(server)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			opts := client.PublishOptions{Retain: retain, ContentType: contentType}
			topic := args[0]
			switch {
			case len(args) == 2:
				_, err := c.Publish(ctx, topic, []byte(args[1]), opts)
				return err
			case file != "":
				var data []byte
				if file == "-" {
					data, err = io.ReadAll(cmd.InOrStdin())
				} else {
					data, err = os.ReadFile(file)
				}
				if err != nil {
					return fmt.Errorf("read payload: %w", err)
				}
				_, err = c.Publish(ctx, topic, data, opts)
				return err
			}
			return publishLines(ctx, c, topic, cmd.InOrStdin(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", serverURL(), "server URL (env STREAMHUB_SERVER)")
	f.StringVarP(&file, "file", "f", "", "publish this file's content as one message ('-' for stdin)")
	f.StringVar(&contentType, "content-type", "", "content type of the payload")
	f.BoolVarP(&retain, "retain", "r", false, "retain the message on its topic")
	return cmd
}

func publishLines(ctx context.Context, c *client.Client, topic string, in io.Reader, opts client.PublishOptions) error {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if _, perr := c.Publish(ctx, topic, []byte(line), opts); perr != nil {
				return perr
			}
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
	var server, format, cursor string
	var count int
	var noRetained bool
	cmd := &cobra.Command{
		Use:   "sub FILTER...",
		Short: "Print messages on topics matching the filters",
		Long: `Subscribe to one or more topic filters ('+' matches one level, '#' the rest)
and print each message: its raw payload and a newline by default, or one
JSON envelope per line with --format json. Retained messages come first.
After a disconnect it reconnects and resumes from the last message it printed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "raw" && format != "json" {
				return fmt.Errorf("--format %q: want raw or json", format)
			}
			c, err := client.New(server)
			if err != nil {
				return err
			}
			out := bufio.NewWriter(cmd.OutOrStdout())
			n := 0
			opts := client.SubscribeOptions{Cursor: cursor, NoRetained: noRetained,
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
	f.StringVar(&server, "server", serverURL(), "server URL (env STREAMHUB_SERVER)")
	f.StringVar(&format, "format", "raw", "raw (payload per line) or json (envelope per line)")
	f.StringVar(&cursor, "cursor", "", "resume after this cursor")
	f.IntVarP(&count, "count", "C", 0, "exit after this many messages")
	f.BoolVar(&noRetained, "no-retained", false, "skip retained messages")
	return cmd
}
