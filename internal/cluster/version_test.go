package cluster

import "testing"

// TestServerVersionChecked: a node refuses a NATS server older than
// MinNATS at start, naming both versions; newer ones and versions it
// cannot read pass.
func TestServerVersionChecked(t *testing.T) {
	for v, refused := range map[string]bool{
		"2.8.4": true, "v2.2.0": true, "1.4.1": true,
		"2.9.0": false, "2.9.10": false, "2.10.0-beta.1": false, "2.15.2": false, "3.0.0": false, "": false, "dev": false,
	} {
		err := checkServerVersion(v)
		if (err != nil) != refused {
			t.Errorf("version %q: %v, want refused %v", v, err, refused)
		}
		if err != nil && err.Error() != "cluster: NATS server "+v+" is older than 2.9.0, the lowest streamhub runs on (docs/CLUSTER.md)" {
			t.Errorf("message %q", err)
		}
	}
}
