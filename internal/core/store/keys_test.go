package store

import "testing"

// TestKeyPrefixesDistinct: every keyspace has its own first byte, so that
// one keyspace's scan never reads another's records.
func TestKeyPrefixesDistinct(t *testing.T) {
	prefixes := map[string]byte{
		"epoch": keyEpoch, "reserved": keyReserved, "message": keyMessage, "index": keyIndex,
		"deleted": keyDeleted, "retained": keyRetained, "session": keySession,
		"session revision": keySessionRev, "session sequence": keySessionSeq, "queue": keyQueue,
	}
	seen := map[byte]string{}
	for name, p := range prefixes {
		if other, ok := seen[p]; ok {
			t.Fatalf("keyspaces %s and %s share the prefix %q", name, other, p)
		}
		seen[p] = name
	}
}
