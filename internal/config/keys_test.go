package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownKeys: a key the configuration does not have, in the file or
// in a STREAMHUB_* variable, is an error naming it and the nearest known
// key, instead of being ignored (issue 14 item 13).
func TestUnknownKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		yaml    string
		environ []string
		want    []string // substrings of the error; none: no error
	}{
		{name: "typo in a leaf", yaml: "http:\n  adr: 0.0.0.0:9000\n",
			want: []string{"unknown key http.adr; did you mean http.addr?"}},
		{name: "typo in a section", yaml: "histroy:\n  messages: 5\n",
			want: []string{"unknown key histroy.messages; did you mean history.messages?"}},
		{name: "typo in a section holding a scalar", yaml: "histroy: 5\n",
			want: []string{"unknown key histroy; did you mean history?"}},
		{name: "nothing near", yaml: "zzzzzzzzzz: 1\n",
			want: []string{"unknown key zzzzzzzzzz"}},
		{name: "every unknown key at once", yaml: "http:\n  adr: x\nmqtt:\n  tlsadr: y\n",
			want: []string{"http.adr", "did you mean mqtt.tlsaddr?"}},
		{name: "typo inside a list item", yaml: "auth:\n  acl:\n    - who: \"*\"\n      publsh: [\"a/#\"]\n",
			want: []string{"unknown key auth.acl[0].publsh; did you mean auth.acl[0].publish?"}},
		{name: "typo inside a durable stream", yaml: "data: /tmp/x\ndurable:\n  streams:\n    - filter: a/#\n      mesages: 5\n",
			want: []string{"unknown key durable.streams[0].mesages; did you mean durable.streams[0].messages?"}},
		{name: "below a leaf", yaml: "http:\n  addr:\n    port: 1\n",
			want: []string{"unknown key http.addr.port"}},
		{name: "environment typo", environ: []string{"STREAMHUB_HTTP_ADR=0.0.0.0:9000"},
			want: []string{"unknown variable STREAMHUB_HTTP_ADR (key http.adr); did you mean STREAMHUB_HTTP_ADDR?"}},
		{name: "environment section typo", environ: []string{"STREAMHUB_HISTROY_MESSAGES=5"},
			want: []string{"did you mean STREAMHUB_HISTORY_MESSAGES?"}},
		{name: "known keys everywhere", yaml: "http:\n  addr: 127.0.0.1:1\nhistory:\n  messages: 5\nauth:\n  acl:\n    - who: \"*\"\n      publish: [\"a/#\"]\n      denysubscribe: [\"b\"]\n  jwt:\n    secret: s\ndurable:\n  streams:\n    - filter: a/#\n      age: 1h\n",
			environ: []string{"STREAMHUB_HTTP_ADDR=127.0.0.1:2", "STREAMHUB_CONFIG=x", "STREAMHUB_SERVER=y", "OTHER_THING=1",
				"STREAMHUB_DURABLE_STREAMS=a/# b/+"}},
		{name: "an empty section", yaml: "http:\nlimits: {}\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "streamhub.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, tc.environ)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted it; want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}
