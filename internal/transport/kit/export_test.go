package kit

// HeartbeatsWaiting is how many writers wait in b, for the tests.
func HeartbeatsWaiting(b *Heartbeats) int { return b.waiting() }
