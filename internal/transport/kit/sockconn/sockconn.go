// Package sockconn is a net.Conn over a TCP socket whose descriptor
// streamhub owns, for connections that are idle most of their life.
//
// While "demoted" (idle) a Conn is its descriptor, its peer's address and
// its deadlines: no netFD, no runtime poll descriptor, no *net.TCPAddr.
// Read and Write first try the syscall on the non-blocking descriptor; a
// call that would have to wait "promotes" the Conn: it makes a standard
// *net.TCPConn from a duplicate of the descriptor and continues through
// it, so a busy connection waits in the runtime's netpoller exactly as a
// net.Conn does. Demote, called when the connection parks (idlepoll does,
// through the RawConn), closes that duplicate again.
//
// The descriptor itself stays open (and keeps its number) until Close:
// idlepoll's epoll registration is made on it and stays valid across
// promotions. See docs/IDLE.md ("depth 2").
package sockconn
