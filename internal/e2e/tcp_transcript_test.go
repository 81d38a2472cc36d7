package e2e

import (
	"bufio"
	"net"
	"os"
	"regexp"
	"slices"
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
	// The lines received after each group typed, in any order: a
	// subscriber's own MSG may come before its PUB's +OK.
	var typed strings.Builder
	var want []string
	check := func() {
		t.Helper()
		var got []string
		for range want {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("waiting for %q: %v", want, err)
			}
			got = append(got, cursorPattern.ReplaceAllString(strings.TrimSpace(line), "CURSOR"))
		}
		for i := range want {
			want[i] = cursorPattern.ReplaceAllString(want[i], "CURSOR")
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("got %q, the docs show %q", got, want)
		}
		want = want[:0]
	}
	for line := range strings.Lines(transcript) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "> "):
			if len(want) > 0 {
				check()
			}
			typed.WriteString(strings.TrimPrefix(line, "> ") + "\n")
		case strings.HasPrefix(line, "< "):
			if typed.Len() > 0 {
				if _, err := conn.Write([]byte(typed.String())); err != nil {
					t.Fatal(err)
				}
				typed.Reset()
			}
			want = append(want, strings.TrimPrefix(line, "< "))
		}
	}
	check()
}
