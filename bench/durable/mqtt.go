package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
)

// mqttPublish publishes n messages to bench/x at QoS 1 over c MQTT 3.1.1
// connections, each keeping up to window publishes unacknowledged, and
// returns once every PUBACK arrived. A minimal client of our own, so that
// the load generator costs about what the NATS client does.
func mqttPublish(addr string, ld load) error {
	var wg sync.WaitGroup
	errs := make(chan error, ld.c)
	for i := range ld.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := mqttConnection(addr, fmt.Sprintf("durable-bench-%d", i), share(ld.n, ld.c, i), ld); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func mqttConnection(addr, id string, n int, ld load) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if err := mqttConnect(c, r, id); err != nil {
		return err
	}
	slots := make(chan struct{}, ld.window)
	acked := make(chan error, 1)
	go func() { acked <- readPubacks(r, n, slots) }()
	w := bufio.NewWriterSize(c, 64<<10)
	for i := range n {
		select {
		case slots <- struct{}{}:
		default: // the window is full: send what is buffered, then wait
			if err := w.Flush(); err != nil {
				return err
			}
			select {
			case slots <- struct{}{}:
			case err := <-acked:
				return fmt.Errorf("before publish %d: %w", i, err)
			}
		}
		writePublish(w, uint16(i%65535+1), "bench/x", ld.payload)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return <-acked
}

func mqttConnect(c net.Conn, r *bufio.Reader, id string) error {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60} // clean session, keep alive 60 s
	body = append(body, byte(len(id)>>8), byte(len(id)))
	body = append(body, id...)
	if _, err := c.Write(append(appendHeader(nil, 0x10, len(body)), body...)); err != nil {
		return err
	}
	var ack [4]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil {
		return fmt.Errorf("connack: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("connack % x", ack)
	}
	return nil
}

func writePublish(w *bufio.Writer, id uint16, topic string, payload []byte) {
	size := 2 + len(topic) + 2 + len(payload)
	var hdr [5]byte
	w.Write(appendHeader(hdr[:0], 0x32, size)) // PUBLISH, QoS 1
	w.Write([]byte{byte(len(topic) >> 8), byte(len(topic))})
	w.WriteString(topic)
	w.Write([]byte{byte(id >> 8), byte(id)})
	w.Write(payload)
}

func appendHeader(b []byte, typ byte, size int) []byte {
	b = append(b, typ)
	for {
		d := byte(size % 128)
		size /= 128
		if size > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if size == 0 {
			return b
		}
	}
}

// readPubacks reads n PUBACKs, freeing a window slot for each.
func readPubacks(r *bufio.Reader, n int, slots chan struct{}) error {
	var ack [4]byte
	for i := range n {
		if _, err := io.ReadFull(r, ack[:]); err != nil {
			return fmt.Errorf("puback %d of %d: %w", i, n, err)
		}
		if ack[0] != 0x40 || ack[1] != 2 {
			return errors.New("not a PUBACK")
		}
		<-slots
	}
	return nil
}
