//go:build !linux

package sockconn

import "net"

// Listen returns ln: elsewhere connections are net's.
func Listen(ln net.Listener) net.Listener { return ln }

// Own returns nc: elsewhere connections are net's.
func Own(nc net.Conn) net.Conn { return nc }
