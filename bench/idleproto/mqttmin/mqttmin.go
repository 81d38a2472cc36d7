// Package mqttmin is the smallest MQTT 3.1.1 server side the idle-connection
// prototypes need: CONNECT, SUBSCRIBE, QoS 0 PUBLISH (fanned out to the exact
// topic's subscribers), PINGREQ and DISCONNECT. It owns no I/O: each
// prototype feeds it the bytes its event loop read and gives it a way to
// write, so the libraries are compared on I/O and memory alone.
//
// Not a server: no auth, no wildcards, no QoS 1/2, no keep-alive timeouts.
package mqttmin

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// Writer sends bytes to one connection; the prototype decides how (direct,
// queued on the connection's loop, ...).
type Writer interface {
	Write(p []byte) (int, error)
}

// Broker maps exact topics to the writers subscribed to them.
type Broker struct {
	mu   sync.RWMutex
	subs map[string][]Writer
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{subs: map[string][]Writer{}} }

func (b *Broker) subscribe(topic string, w Writer) {
	b.mu.Lock()
	b.subs[topic] = append(b.subs[topic], w)
	b.mu.Unlock()
}

// Unsubscribe drops w from every topic (on close).
func (b *Broker) Unsubscribe(w Writer, topics []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range topics {
		l := b.subs[t]
		for i, x := range l {
			if x == w {
				l[i] = l[len(l)-1]
				l = l[:len(l)-1]
				break
			}
		}
		if len(l) == 0 {
			delete(b.subs, t)
		} else {
			b.subs[t] = l
		}
	}
}

func (b *Broker) publish(topic string, packet []byte) {
	b.mu.RLock()
	l := b.subs[topic]
	b.mu.RUnlock()
	for _, w := range l {
		_, _ = w.Write(packet)
	}
}

// ErrClose asks the caller to close the connection (DISCONNECT or bad input).
var ErrClose = errors.New("mqttmin: close")

// Session is one connection's protocol state: the topics it subscribed to
// and, only between reads that split a packet, the partial packet. An idle
// session holds no buffer.
type Session struct {
	Topics  []string
	partial []byte
}

// Feed consumes bytes read from the connection, answering on w. It copies
// only an incomplete trailing packet, so data may be a loop's shared buffer.
func (s *Session) Feed(b *Broker, w Writer, data []byte) error {
	if len(s.partial) > 0 {
		s.partial = append(s.partial, data...)
		data = s.partial
	}
	for len(data) > 0 {
		n, err := s.packet(b, w, data)
		if err != nil {
			return err
		}
		if n == 0 { // incomplete
			break
		}
		data = data[n:]
	}
	if len(data) == 0 {
		s.partial = nil
	} else {
		s.partial = append([]byte(nil), data...)
	}
	return nil
}

// Need reports how many bytes the packet at the start of data needs in all,
// or 0 when the fixed header itself is incomplete (for libraries that read
// by length, like gnet's and netpoll's).
func Need(data []byte) (int, error) {
	if len(data) < 2 {
		return 0, nil
	}
	rem, mul := 0, 1
	for i := 1; i < 5; i++ {
		if i >= len(data) {
			return 0, nil
		}
		rem += int(data[i]&0x7f) * mul
		if data[i]&0x80 == 0 {
			return i + 1 + rem, nil
		}
		mul *= 128
	}
	return 0, ErrClose
}

// packet handles one complete packet at the start of data and returns its
// length, or 0 when data holds only part of it.
func (s *Session) packet(b *Broker, w Writer, data []byte) (int, error) {
	total, err := Need(data)
	if err != nil || total == 0 || total > len(data) {
		return 0, err
	}
	hl := total
	for i := 1; i < 5; i++ {
		if data[i]&0x80 == 0 {
			hl = i + 1
			break
		}
	}
	body := data[hl:total]
	switch data[0] >> 4 {
	case 1: // CONNECT
		_, err = w.Write([]byte{0x20, 2, 0, 0})
	case 3: // PUBLISH, QoS 0 only
		if len(body) < 2 || data[0]&0x06 != 0 {
			return 0, ErrClose
		}
		tl := int(binary.BigEndian.Uint16(body))
		if 2+tl > len(body) {
			return 0, ErrClose
		}
		b.publish(string(body[2:2+tl]), append([]byte(nil), data[:total]...))
	case 8: // SUBSCRIBE
		if len(body) < 2 {
			return 0, ErrClose
		}
		ack := []byte{0x90, 2, body[0], body[1]}
		for p := body[2:]; len(p) >= 3; {
			tl := int(binary.BigEndian.Uint16(p))
			if 2+tl+1 > len(p) {
				return 0, ErrClose
			}
			t := string(p[2 : 2+tl])
			s.Topics = append(s.Topics, t)
			b.subscribe(t, w)
			ack = append(ack, 0)
			p = p[2+tl+1:]
		}
		ack[1] = byte(len(ack) - 2)
		_, err = w.Write(ack)
	case 12: // PINGREQ
		_, err = w.Write([]byte{0xd0, 0})
	case 14: // DISCONNECT
		return 0, ErrClose
	default:
		return 0, ErrClose
	}
	return total, err
}

// SyncWriter serialises writes to W: publishers write to a connection from
// other goroutines than its own.
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (w *SyncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.W.Write(p)
}
