package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MinNATS is the lowest NATS server version a node runs on: nats.go's
// JetStream API needs 2.9.0. Tested on Debian 12's 2.9.10 and go.mod's.
const MinNATS = "2.9.0"

// checkServerVersion refuses a NATS server older than MinNATS, naming
// both; a version it cannot read passes.
func checkServerVersion(version string) error {
	got, ok := versionNumbers(version)
	want, _ := versionNumbers(MinNATS)
	if ok && slices.Compare(got, want) < 0 {
		return fmt.Errorf("cluster: NATS server %s is older than %s, the lowest streamhub runs on (docs/CLUSTER.md)", version, MinNATS)
	}
	return nil
}

// versionNumbers reads MAJOR.MINOR.PATCH (a leading v and a suffix such
// as -beta ignored).
func versionNumbers(v string) ([]int, bool) {
	v, _, _ = strings.Cut(strings.TrimPrefix(v, "v"), "-")
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return nil, false
	}
	out := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}
