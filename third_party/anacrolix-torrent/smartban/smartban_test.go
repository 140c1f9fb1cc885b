package smartban

import (
	"hash/fnv"
	"iter"
	"slices"
	"testing"
)

// TestHasRepeatedBlocks: a piece's blocks are checked against what peers sent only when some
// block of it was received more than once (distpac patch 15), by one peer or by two.
func TestHasRepeatedBlocks(t *testing.T) {
	type rec struct {
		peer  string
		block int
		data  string
	}
	tests := []struct {
		name    string
		records []rec
		blocks  []int
		want    bool
	}{
		{"nothing recorded", nil, []int{0, 1}, false},
		{"each block once", []rec{{"a", 0, "x"}, {"b", 1, "y"}}, []int{0, 1}, false},
		{"one block from two peers", []rec{{"a", 0, "x"}, {"b", 1, "y"}, {"b", 0, "z"}}, []int{0, 1}, true},
		{"one block twice from one peer", []rec{{"a", 1, "y"}, {"a", 1, "y"}}, []int{0, 1}, true},
		{"the repeat is in another piece", []rec{{"a", 0, "x"}, {"a", 5, "y"}, {"b", 5, "z"}}, []int{0, 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cache[string, int, uint64]
			c.Hash = func(b []byte) uint64 {
				h := fnv.New64a()
				h.Write(b)
				return h.Sum64()
			}
			c.Init()
			for _, r := range tt.records {
				c.RecordBlock(r.peer, r.block, []byte(r.data))
			}
			var seq iter.Seq[int] = slices.Values(tt.blocks)
			if got := c.HasRepeatedBlocks(seq); got != tt.want {
				t.Fatalf("HasRepeatedBlocks = %v, want %v", got, tt.want)
			}
			if len(tt.records) > 0 && !c.HasPeerForBlocks(slices.Values([]int{tt.records[0].block})) {
				t.Fatal("a recorded block has no peer")
			}
		})
	}
}
