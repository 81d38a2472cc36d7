package kit

import "streamhub/internal/core/hub"

// SetEncodeHook has f run before every delivery a Writer encodes, in
// this test binary, until the returned func restores none.
func SetEncodeHook(f func(hub.Delivery)) (restore func()) {
	encodeHook.Store(&f)
	return func() { encodeHook.Store(nil) }
}
