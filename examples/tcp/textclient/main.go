// Command textclient is a tiny client of streamhub's TCP text protocol:
// it subscribes to a filter, publishes one message, and prints every
// message it receives.
//
//	go run ./examples/tcp/textclient -addr 127.0.0.1:7000 -sub 'sensors/#' -pub sensors/x -msg hello
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "streamhub text protocol address")
	sub := flag.String("sub", "sensors/#", "filter to subscribe to")
	pub := flag.String("pub", "", "topic to publish -msg to")
	msg := flag.String("msg", "hello from Go", "payload to publish")
	flag.Parse()

	conn, err := net.Dial("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "SUB %s\n", *sub)
	if *pub != "" {
		fmt.Fprintf(conn, "PUB %s %d\n%s\n", *pub, len(*msg), *msg)
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "MSG" {
			fmt.Println(line) // +OK, PONG or -ERR
			continue
		}
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			log.Fatalf("bad MSG line %q", line)
		}
		payload := make([]byte, n+1) // the payload and its "\n"
		if _, err := io.ReadFull(r, payload); err != nil {
			return
		}
		topic := strings.TrimSuffix(strings.TrimPrefix(line, "MSG "), " "+fields[len(fields)-1])
		fmt.Printf("%s: %s\n", topic, payload[:n])
	}
}
