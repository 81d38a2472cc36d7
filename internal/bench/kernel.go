package bench

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// kernelSockets is the kernel's memory for TCP sockets, machine-wide:
// what /proc/net/sockstat counts in socket buffers ("TCP: ... mem N",
// pages) and what the TCP slab cache holds in socket structures
// (/proc/slabinfo, readable by root only; 0 otherwise). Both ends of a
// loopback connection are on the machine, and so is every other process's
// traffic: a run on a quiet machine tells the most.
type kernelSockets struct {
	bufferBytes int64
	slabBytes   int64
}

func readKernelSockets() kernelSockets {
	var k kernelSockets
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		k.bufferBytes = sockstatTCPMem(b) * int64(os.Getpagesize())
	}
	if b, err := os.ReadFile("/proc/slabinfo"); err == nil {
		k.slabBytes = slabBytes(b, "TCP")
	}
	return k
}

// sockstatTCPMem is the "mem" field of sockstat's TCP line, in pages.
func sockstatTCPMem(sockstat []byte) int64 {
	for _, line := range strings.Split(string(sockstat), "\n") {
		rest, ok := strings.CutPrefix(line, "TCP:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		for i := 0; i+1 < len(f); i += 2 {
			if f[i] == "mem" {
				n, _ := strconv.ParseInt(f[i+1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// slabBytes is cache's active objects times their size in a slabinfo
// listing ("name active_objs num_objs objsize ...").
func slabBytes(slabinfo []byte, cache string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(slabinfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != cache {
			continue
		}
		active, _ := strconv.ParseInt(f[1], 10, 64)
		size, _ := strconv.ParseInt(f[3], 10, 64)
		return active * size
	}
	return 0
}
