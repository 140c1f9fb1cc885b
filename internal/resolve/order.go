package resolve

import (
	"container/heap"
)

// installOrder orders names so that every name comes after the names it
// depends on. Cycles are collapsed (Tarjan's strongly connected components)
// and their members installed in name order; among names that are ready at
// the same time the smallest name goes first, so the order is deterministic.
func installOrder(names []string, deps func(string) []string) []string {
	idx := make(map[string]int, len(names))
	for i, n := range names {
		idx[n] = i
	}
	adj := make([][]int, len(names))
	for i, n := range names {
		for _, d := range deps(n) {
			if j, ok := idx[d]; ok && j != i {
				adj[i] = append(adj[i], j)
			}
		}
	}
	comp := sccs(adj)
	ncomp := 0
	for _, c := range comp {
		ncomp = max(ncomp, c+1)
	}
	members := make([][]int, ncomp)
	for i, c := range comp {
		members[c] = append(members[c], i) // names are sorted, so members are too
	}
	// waiting[c] counts the distinct components c depends on.
	waiting := make([]int, ncomp)
	users := make([][]int, ncomp)
	seen := map[[2]int]bool{}
	for i, out := range adj {
		for _, j := range out {
			a, b := comp[i], comp[j]
			if a != b && !seen[[2]int{a, b}] {
				seen[[2]int{a, b}] = true
				waiting[a]++
				users[b] = append(users[b], a)
			}
		}
	}
	ready := &compHeap{} // by each component's first member
	for c := 0; c < ncomp; c++ {
		if waiting[c] == 0 {
			heap.Push(ready, [2]int{members[c][0], c})
		}
	}
	out := make([]string, 0, len(names))
	for ready.Len() > 0 {
		c := heap.Pop(ready).([2]int)[1]
		for _, m := range members[c] {
			out = append(out, names[m])
		}
		for _, u := range users[c] {
			if waiting[u]--; waiting[u] == 0 {
				heap.Push(ready, [2]int{members[u][0], u})
			}
		}
	}
	return out
}

// sccs returns the component number of each vertex.
func sccs(adj [][]int) []int {
	n := len(adj)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next, ncomp := 0, 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range adj[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = ncomp
				if w == v {
					break
				}
			}
			ncomp++
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comp
}

// compHeap holds components ready to be ordered as {first member, component},
// least first member on top (members are distinct, so that decides).
type compHeap [][2]int

func (h compHeap) Len() int           { return len(h) }
func (h compHeap) Less(i, j int) bool { return h[i][0] < h[j][0] }
func (h compHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *compHeap) Push(x any)        { *h = append(*h, x.([2]int)) }
func (h *compHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
