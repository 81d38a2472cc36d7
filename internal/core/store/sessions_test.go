package store

import (
	"context"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"streamhub/internal/core/sessions"
)

// TestSessionRecordsBeforeRevisions: a record written before records had
// revisions (the record alone under its key) loads and lists at the
// legacy revision, is written at it and then moves past it; a write at
// revision 0 finds it there.
func TestSessionRecordsBeforeRevisions(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	defer s.Close()
	if err := s.db.Set(sessionKey(keySession, "dev"), []byte(`{"client":"dev"}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec, rev, err := s.Sessions().Load(ctx, "dev")
	if err != nil || string(rec) != `{"client":"dev"}` || rev != legacyRevision {
		t.Fatalf("load: %q at %d (%v), want the record at %d", rec, rev, err, legacyRevision)
	}
	list, err := s.Sessions().List(ctx)
	if err != nil || len(list) != 1 || list[0].Key != "dev" || list[0].Revision != legacyRevision {
		t.Fatalf("list: %+v (%v)", list, err)
	}
	if _, err := s.Sessions().Save(ctx, "dev", []byte("new"), 0); !errors.Is(err, sessions.ErrConflict) {
		t.Fatalf("created over a legacy record: %v", err)
	}
	next, err := s.Sessions().Save(ctx, "dev", []byte("new"), legacyRevision)
	if err != nil || next <= legacyRevision {
		t.Fatalf("save at the legacy revision: %d, %v", next, err)
	}
}
