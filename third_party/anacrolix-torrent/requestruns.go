package torrent

// distpac patch: the candidate requests of an update ordered as runs (PATCHES.md, patch 14).

import (
	"github.com/anacrolix/generics/heap"
)

// requestRun is a run of candidate requests, requestIndexes[lo:hi], that lessByValue orders
// among themselves by request index alone: the chunks of one piece that no peer has requested
// (distpac patch). For such chunks every key before the last is the piece's or the same (the
// peer's choke state, the piece's priority, unrequested, begun (patch 31), the suggestion, past
// the prefix window (patch 42), the availability and the random piece order); the last is the request index, ascending, or descending while
// webseed requests are active. So, for a given state, a heap of runs, each keyed by its next
// request, pops the requests in the order a heap of all the requests would, and holds one
// element per piece (plus one per requested chunk) instead of one per chunk: with the
// torrent's every missing chunk a candidate, heap.Init over all of them had taken 8 % of the
// CPU of a one-peer download (BenchmarkOnePeer). A chunk some peer has requested is a run of
// its own (its order depends on the request's peer and time). In the endgame a steal changes
// a key of other peers' chunks (their peer's request count) while requests are popped; after
// that neither heap is ordered, and their orders differ.
type requestRun struct {
	lo, hi uint32
}

// next is the request a run yields next: its least by lessByValue.
func (p *desiredPeerRequests) next(r requestRun, desc bool) RequestIndex {
	if desc {
		return p.requestIndexes[r.hi-1]
	}
	return p.requestIndexes[r.lo]
}

// requestRunHeap pops a desiredPeerRequests' candidates in lessByValue's order.
type requestRunHeap struct {
	d    *desiredPeerRequests
	desc bool // webseed requests active: each run yields its highest request first
	h    heap.Interface[requestRun]
}

// newRequestRunHeap orders d's runs. desc is whether webseed requests are active, read once:
// lessByValue reads it in every comparison, and a change while requests are popped would
// leave a heap of single requests out of order as well.
func newRequestRunHeap(d *desiredPeerRequests, desc bool) *requestRunHeap {
	h := &requestRunHeap{d: d, desc: desc}
	h.h = heap.InterfaceForSlice(&d.runs, func(l, r requestRun) bool {
		return d.lessByValue(d.next(l, desc), d.next(r, desc))
	})
	heap.Init(h.h)
	return h
}

func (h *requestRunHeap) Len() int { return h.h.Len() }

// pop removes and returns the least request. The heap must not be empty.
func (h *requestRunHeap) pop() RequestIndex {
	run := &h.d.runs[0]
	req := h.d.next(*run, h.desc)
	if h.desc {
		run.hi--
	} else {
		run.lo++
	}
	if run.lo == run.hi {
		heap.Pop(h.h)
	} else {
		heap.Fix(h.h, 0)
	}
	return req
}
