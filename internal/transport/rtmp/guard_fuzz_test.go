package rtmp

import (
	"slices"
	"testing"

	"streamhub/internal/limit"
)

// FuzzChunkGuard: any client chunk stream, arriving in any pieces, is
// read into the same chunks with the same verdict, never panics, and
// gives back every byte it charged.
func FuzzChunkGuard(f *testing.F) {
	f.Add(append(setChunkSize(4096), chunk0(3, 300, 20, make([]byte, 300))...), uint8(7))
	f.Add(append(chunk0(3, 200, 9, make([]byte, 128)), append([]byte{0xC3}, make([]byte, 72)...)...), uint8(1))
	f.Add(chunk0(4, 1<<20+1, 9, nil), uint8(3))
	f.Add([]byte{0x03, 0xFF, 0xFF, 0xFF, 0, 0, 2, 8, 0, 0, 0, 0, 0, 0, 0, 1, 7, 7, 0xC3, 0, 0, 0, 1}, uint8(5))
	f.Add(append(chunk0(2, 4, typeAbort, []byte{0, 0, 0, 3}), 0x43, 0, 0, 1, 0, 0, 1, 8, 9), uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, piece uint8) {
		budget := limit.NewBudget(1 << 30)
		whole, wholeErr := readChunks(budget, stream, len(stream))
		pieces, piecesErr := readChunks(budget, stream, int(piece)+1)
		if !slices.Equal(whole, pieces) || (wholeErr == nil) != (piecesErr == nil) {
			t.Fatalf("at once: %v %v; in pieces of %d: %v %v", whole, wholeErr, int(piece)+1, pieces, piecesErr)
		}
		if budget.Used() != 0 {
			t.Fatalf("%d bytes still charged after close", budget.Used())
		}
	})
}

// readChunks feeds stream to a fresh guard in pieces of step bytes and
// returns the lengths of the whole chunks it let past and its verdict.
func readChunks(budget *limit.Budget, stream []byte, step int) ([]int, error) {
	g := newChunkGuard(0, budget)
	defer g.close()
	var lengths []int
	head, arrived := 0, 0
	for {
		n, err := g.chunk(stream[head:arrived])
		if err != nil {
			return lengths, err
		}
		if n > 0 {
			lengths = append(lengths, n)
			head += n
			continue
		}
		if arrived == len(stream) {
			return lengths, nil
		}
		more := min(step, len(stream)-arrived)
		if err := g.received(more); err != nil {
			return lengths, err
		}
		arrived += more
	}
}
