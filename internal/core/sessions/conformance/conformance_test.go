package conformance_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"streamhub/internal/cluster"
	"streamhub/internal/core/sessions"
	"streamhub/internal/core/store"
	"streamhub/internal/testkit/natstest"
)

// engine opens one kind of session store for a test; restart closes it
// and opens it again on what it persisted (nil: it persists nothing).
type engine struct {
	name    string
	open    func(t *testing.T) (st sessions.Store, restart func() sessions.Store)
	persist bool
}

func engines() []engine {
	return []engine{
		{name: "memory", open: func(t *testing.T) (sessions.Store, func() sessions.Store) {
			return sessions.NewMemory(), nil
		}},
		{name: "pebble", persist: true, open: openPebble},
		{name: "jetstream", persist: true, open: openJetStream},
	}
}

func openPebble(t *testing.T) (sessions.Store, func() sessions.Store) {
	dir := filepath.Join(t.TempDir(), "store")
	var st *store.Store
	open := func() sessions.Store {
		var err error
		if st, err = store.Open(store.Config{Dir: dir}, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		return st.Sessions()
	}
	t.Cleanup(func() { st.Close() })
	first := open()
	return first, func() sessions.Store {
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return open()
	}
}

// openJetStream runs an in-process nats-server and a node on it; the
// restart stops both and starts them again on the same port and store.
func openJetStream(t *testing.T) (sessions.Store, func() sessions.Store) {
	storeDir := t.TempDir()
	ns := natstest.Start(t, func(o *natsserver.Options) { o.StoreDir = storeDir })
	port := ns.Addr().(*net.TCPAddr).Port
	var node *cluster.JetStream
	open := func() sessions.Store {
		var err error
		node, err = cluster.Open(context.Background(), cluster.Config{URLs: []string{ns.ClientURL()}, Node: "a", Timeout: 2 * time.Second},
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		m, err := node.MQTT(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Cleanup(func() { node.Close() })
	first := open()
	return first, func() sessions.Store {
		node.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
		ns = natstest.Start(t, func(o *natsserver.Options) { o.StoreDir, o.Port = storeDir, port })
		return open()
	}
}

// TestSessionStoreConformance runs every behaviour on every store.
func TestSessionStoreConformance(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name string
				run  func(t *testing.T, st sessions.Store, restart func() sessions.Store)
			}{
				{"compare and set", compareAndSet},
				{"delete", deleteAtRevision},
				{"keys apart", keysApart},
				{"list", list},
				{"concurrent saves: one wins", concurrentSaves},
				{"restart", restartKeeps},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					st, restart := e.open(t)
					if c.name == "restart" && !e.persist {
						t.Skip(e.name + " keeps nothing across a restart")
					}
					c.run(t, st, restart)
				})
			}
		})
	}
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustSave(t *testing.T, st sessions.Store, key, rec string, rev uint64) uint64 {
	t.Helper()
	next, err := st.Save(ctxOf(t), key, []byte(rec), rev)
	if err != nil {
		t.Fatalf("save %q at %d: %v", rec, rev, err)
	}
	if next == 0 || next == rev {
		t.Fatalf("save %q at %d: new revision %d", rec, rev, next)
	}
	return next
}

func wantRecord(t *testing.T, st sessions.Store, key, rec string, rev uint64) {
	t.Helper()
	got, r, err := st.Load(ctxOf(t), key)
	if err != nil {
		t.Fatal(err)
	}
	if rec == "" && (got != nil || r != 0) {
		t.Fatalf("load %q: %q at %d, want none", key, got, r)
	}
	if rec != "" && (string(got) != rec || r != rev) {
		t.Fatalf("load %q: %q at %d, want %q at %d", key, got, r, rec, rev)
	}
}

func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, sessions.ErrConflict) {
		t.Fatalf("%s: %v, want ErrConflict", what, err)
	}
}

// compareAndSet: a record is created once, and written only at the
// revision last read.
func compareAndSet(t *testing.T, st sessions.Store, _ func() sessions.Store) {
	ctx := ctxOf(t)
	wantRecord(t, st, "dev", "", 0)
	rev := mustSave(t, st, "dev", "one", 0)
	_, err := st.Save(ctx, "dev", []byte("again"), 0)
	wantConflict(t, "created twice", err)
	next := mustSave(t, st, "dev", "two", rev)
	_, err = st.Save(ctx, "dev", []byte("stale"), rev)
	wantConflict(t, "written at an old revision", err)
	_, err = st.Save(ctx, "dev", []byte("future"), next+1000)
	wantConflict(t, "written at a revision never given", err)
	wantRecord(t, st, "dev", "two", next)
}

// deleteAtRevision: a record is deleted only at its revision; created
// again after, it has a revision it never had, so that whoever read an
// old one cannot write it.
func deleteAtRevision(t *testing.T, st sessions.Store, _ func() sessions.Store) {
	ctx := ctxOf(t)
	first := mustSave(t, st, "dev", "one", 0)
	second := mustSave(t, st, "dev", "two", first)
	wantConflict(t, "deleted at an old revision", st.Delete(ctx, "dev", first))
	wantRecord(t, st, "dev", "two", second)
	if err := st.Delete(ctx, "dev", second); err != nil {
		t.Fatal(err)
	}
	wantRecord(t, st, "dev", "", 0)
	wantConflict(t, "deleted again at its last revision", st.Delete(ctx, "dev", second))
	if err := st.Delete(ctx, "dev", 0); err != nil {
		t.Fatalf("deleting no record at revision 0: %v", err)
	}
	_, err := st.Save(ctx, "dev", []byte("stale"), second)
	wantConflict(t, "written at the deleted record's revision", err)
	again := mustSave(t, st, "dev", "three", 0)
	if again == first || again == second {
		t.Fatalf("created again at revision %d, one it had (%d, %d)", again, first, second)
	}
	wantRecord(t, st, "dev", "three", again)
}

// keysApart: session keys hold any client id character, and an owner's
// part; keys that differ in one character are different records; the
// empty key is refused.
func keysApart(t *testing.T, st sessions.Store, _ func() sessions.Store) {
	ctx := ctxOf(t)
	keys := []string{"\x00alice\x00dev ice.1/*>", "\x00alice\x00dev ice.1/*", "dev ice.1/*>", "ü.日本"}
	revs := make([]uint64, len(keys))
	for i, k := range keys {
		revs[i] = mustSave(t, st, k, "rec "+strconv.Itoa(i), 0)
	}
	for i, k := range keys {
		wantRecord(t, st, k, "rec "+strconv.Itoa(i), revs[i])
	}
	if _, err := st.Save(ctx, "", []byte("x"), 0); !errors.Is(err, sessions.ErrInvalidKey) {
		t.Fatalf("saving the empty key: %v, want ErrInvalidKey", err)
	}
}

// list: every record with its key and revision, deleted ones left out.
func list(t *testing.T, st sessions.Store, _ func() sessions.Store) {
	ctx := ctxOf(t)
	var want []sessions.Entry
	for i := range 5 {
		key := fmt.Sprintf("\x00owner\x00client-%d", i)
		rev := mustSave(t, st, key, "rec", 0)
		if i == 2 {
			if err := st.Delete(ctx, key, rev); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want = append(want, sessions.Entry{Key: key, Record: []byte("rec"), Revision: rev})
	}
	wantList(t, st, want)
}

func wantList(t *testing.T, st sessions.Store, want []sessions.Entry) {
	t.Helper()
	got, err := st.List(ctxOf(t))
	if err != nil {
		t.Fatal(err)
	}
	byKey := func(a, b sessions.Entry) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(got, byKey)
	slices.SortFunc(want, byKey)
	same := len(got) == len(want)
	for i := 0; same && i < len(got); i++ {
		same = got[i].Key == want[i].Key && string(got[i].Record) == string(want[i].Record) && got[i].Revision == want[i].Revision
	}
	if !same {
		t.Fatalf("list: %s, want %s", show(got), show(want))
	}
}

func show(es []sessions.Entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, fmt.Sprintf("%q=%q@%d", e.Key, e.Record, e.Revision))
	}
	return out
}

// concurrentSaves: of writers that read one revision, exactly one writes
// (each round: a creation, then updates).
func concurrentSaves(t *testing.T, st sessions.Store, _ func() sessions.Store) {
	ctx := ctxOf(t)
	const writers = 8
	var rev uint64
	for round := range 3 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []uint64
		var wonBy []string
		start := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				rec := fmt.Sprintf("round %d writer %d", round, w)
				next, err := st.Save(ctx, "contended", []byte(rec), rev)
				if err != nil && !errors.Is(err, sessions.ErrConflict) {
					t.Errorf("%s: %v", rec, err)
					return
				}
				if err == nil {
					mu.Lock()
					won, wonBy = append(won, next), append(wonBy, rec)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("round %d: %d writers won (%q), want 1", round, len(won), wonBy)
		}
		rev = won[0]
		wantRecord(t, st, "contended", wonBy[0], rev)
	}
}

// restartKeeps: records, their revisions and deletions survive a restart
// of the store; the revisions handed out after it are new ones.
func restartKeeps(t *testing.T, st sessions.Store, restart func() sessions.Store) {
	ctx := ctxOf(t)
	kept := mustSave(t, st, "kept", "one", 0)
	kept = mustSave(t, st, "kept", "two", kept)
	gone := mustSave(t, st, "gone", "x", 0)
	if err := st.Delete(ctx, "gone", gone); err != nil {
		t.Fatal(err)
	}
	st = restart()
	wantRecord(t, st, "kept", "two", kept)
	wantRecord(t, st, "gone", "", 0)
	wantList(t, st, []sessions.Entry{{Key: "kept", Record: []byte("two"), Revision: kept}})
	next := mustSave(t, st, "kept", "three", kept)
	if again := mustSave(t, st, "gone", "y", 0); again == gone || again == next || again <= kept {
		t.Fatalf("revision %d after the restart, one handed out before (%d, %d)", again, gone, kept)
	}
}
