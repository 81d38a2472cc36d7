package bench

import "testing"

func TestKernelSocketsParsing(t *testing.T) {
	sockstat := []byte("sockets: used 30018\nTCP: inuse 30003 orphan 0 tw 1 alloc 30003 mem 17\nUDP: inuse 0 mem 4\n")
	if got := sockstatTCPMem(sockstat); got != 17 {
		t.Errorf("sockstat TCP mem %d, want 17", got)
	}
	slabinfo := []byte("slabinfo - version: 2.1\n# name <active_objs> <num_objs> <objsize> ...\n" +
		"TCPv6                 26     26   2496   13    8 : tunables    0    0    0 : slabdata      2      2      0\n" +
		"TCP                30030  30030   2368   13    8 : tunables    0    0    0 : slabdata   2310   2310      0\n")
	if got := slabBytes(slabinfo, "TCP"); got != 30030*2368 {
		t.Errorf("TCP slab %d bytes, want %d", got, 30030*2368)
	}
	if got := sockstatTCPMem([]byte("nothing")) + slabBytes([]byte("nothing"), "TCP"); got != 0 {
		t.Errorf("unreadable listings gave %d", got)
	}
}
