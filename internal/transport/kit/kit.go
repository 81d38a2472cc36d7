// Package kit is the plumbing every transport shares, whatever its
// protocol: the Meter it reports to, the subscribe helper that admits a
// subscriber and maps the end of its subscription onto a reason, and the
// writer loop that drains a subscription into a connection. A transport
// writes its codec and its framing; the rest comes from here.
package kit

// Meter receives a transport's counts; the metrics package implements it.
type Meter interface {
	// Connected counts a connection open until the returned func is called.
	Connected() (disconnected func())
	Received(n int)
	Sent(n int)
}
