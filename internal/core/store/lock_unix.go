//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockFile, in the store's directory, holds the pid of the server using it.
const lockFile = "streamhub.pid"

// dirLock holds the store's directory for this process with an flock on
// lockFile. Pebble locks its directory too, but its refusal ("resource
// temporarily unavailable") names neither the cause nor the other process.
// The kernel drops an flock when its process dies, so the file left behind
// by a killed server blocks nobody.
type dirLock struct{ f *os.File }

func lockDir(dir string) (*dirLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("store: lock file: %w", err)
	}
	if err := flockOwn(f, path); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUse(dir, path)
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: write %s: %w", path, err)
	}
	return &dirLock{f: f}, nil
}

// ownLockWait bounds how long a lock that this process itself wrote
// last is waited for.
const ownLockWait = 5 * time.Second

// flockOwn takes the flock. When the lock file names this very process,
// the holder is a store this process closed a moment ago whose file
// description a child process still shares: a fork by any goroutine
// copies every descriptor until the child's exec closes it (close-on-exec),
// and the flock goes with the description. Such a lock is waited for,
// briefly; another process's is refused at once.
func flockOwn(f *os.File, path string) error {
	deadline := time.Now().Add(ownLockWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return err
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// inUse says who holds dir, as far as its lock file tells.
func inUse(dir, path string) error {
	holder := "pid unknown"
	if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) != "" {
		holder = "pid " + strings.TrimSpace(string(b))
	}
	return fmt.Errorf("store: data directory %s is in use by another streamhub process (%s): stop it, or give this server another data directory", dir, holder)
}

// release gives the directory up (closing the file drops the flock).
func (l *dirLock) release() error { return l.f.Close() }
