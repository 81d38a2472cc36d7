package bridge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"streamhub/internal/core/message"
)

// cursorFile keeps the cursor of the last outgoing message the remote
// broker acknowledged, so that a restarted server resumes after it. It is
// written by rename, not synced: a crash can only lose the newest
// positions, which means sending a few messages again (at least once).
type cursorFile struct {
	path    string
	written time.Time
}

func (f *cursorFile) load() (message.Cursor, error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return message.Cursor{}, nil
	}
	if err != nil {
		return message.Cursor{}, fmt.Errorf("cursor: %w", err)
	}
	c, err := message.ParseCursor(strings.TrimSpace(string(b)))
	if err != nil {
		return message.Cursor{}, fmt.Errorf("cursor %s: %w", f.path, err)
	}
	return c, nil
}

func (f *cursorFile) store(c message.Cursor) error {
	f.written = time.Now()
	if err := os.MkdirAll(filepath.Dir(f.path), 0o750); err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.String()+"\n"), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, f.path)
}
