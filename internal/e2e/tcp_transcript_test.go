package e2e

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"streamhub/internal/config"
	"streamhub/internal/testkit"
)

// cursorPattern matches a cursor (epoch-seq), which differs from run to run.
var cursorPattern = regexp.MustCompile(`\b[0-9a-z]{4,}-[0-9]+\b`)

// TestTCPTranscriptInDocs replays docs/PROTOCOLS.md's text-protocol
// transcript against a server: each line received is the one the docs
// show, cursors aside.
func TestTCPTranscriptInDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/PROTOCOLS.md")
	if err != nil {
		t.Fatal(err)
	}
	_, transcript, ok := strings.Cut(string(doc), "A transcript with `nc 127.0.0.1 7000`")
	if !ok {
		t.Fatal("no transcript in docs/PROTOCOLS.md")
	}
	_, transcript, _ = strings.Cut(transcript, "\n\n")
	transcript, _, _ = strings.Cut(transcript, "\n\n")
	s := testkit.Start(t, func(c *config.Config) { c.TCP.Addr = "127.0.0.1:0" })
	conn, err := net.Dial("tcp", s.TCP().TextAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second)) //nolint:errcheck // a fresh connection
	r := bufio.NewReader(conn)
	var typed strings.Builder
	for line := range strings.Lines(transcript) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "> "):
			typed.WriteString(strings.TrimPrefix(line, "> ") + "\n")
		case strings.HasPrefix(line, "< "):
			if typed.Len() > 0 {
				if _, err := conn.Write([]byte(typed.String())); err != nil {
					t.Fatal(err)
				}
				typed.Reset()
			}
			got, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", line, err)
			}
			want := strings.TrimPrefix(line, "< ")
			if cursorPattern.ReplaceAllString(strings.TrimSpace(got), "CURSOR") != cursorPattern.ReplaceAllString(want, "CURSOR") {
				t.Errorf("got %q, the docs show %q", strings.TrimSpace(got), want)
			}
		}
	}
}
