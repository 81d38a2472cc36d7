//go:build !unix

package store

// dirLock is a no-op where flock is missing: pebble's own lock still
// refuses a second process, without naming it.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() error { return nil }
