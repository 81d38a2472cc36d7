package hub

import "streamhub/internal/core/engine"

// ErrUnavailable is returned by Publish when the engine cannot take
// messages now; each protocol answers with its "server unavailable".
var ErrUnavailable = engine.ErrUnavailable
