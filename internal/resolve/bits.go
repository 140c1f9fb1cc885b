package resolve

import "math/bits"

// bitset is a set of small non-negative integers: candidate indexes of one
// package, or decision levels. Domains are usually one word.
type bitset []uint64

func newBits(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) has(i int) bool {
	w := i / 64
	return w < len(b) && b[w]&(1<<(uint(i)%64)) != 0
}

func (b bitset) set(i int) { b[i/64] |= 1 << (uint(i) % 64) }

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }

// and returns b ∩ o as a new set.
func (b bitset) and(o bitset) bitset {
	out := make(bitset, len(b))
	for i := range b {
		if i < len(o) {
			out[i] = b[i] & o[i]
		}
	}
	return out
}

// within reports whether b ⊆ o.
func (b bitset) within(o bitset) bool {
	for i, w := range b {
		var ow uint64
		if i < len(o) {
			ow = o[i]
		}
		if w&^ow != 0 {
			return false
		}
	}
	return true
}

// each calls f for every member in increasing order.
func (b bitset) each(f func(int)) {
	for w, word := range b {
		for word != 0 {
			t := bits.TrailingZeros64(word)
			f(w*64 + t)
			word &= word - 1
		}
	}
}

// levelSet is a set of decision levels: the choices a failure depends on.
type levelSet struct{ b bitset }

func (s *levelSet) add(l int) {
	for l/64 >= len(s.b) {
		s.b = append(s.b, 0)
	}
	s.b.set(l)
}

func (s *levelSet) union(o levelSet) {
	for len(s.b) < len(o.b) {
		s.b = append(s.b, 0)
	}
	for i, w := range o.b {
		s.b[i] |= w
	}
}

func (s levelSet) has(l int) bool { return s.b.has(l) }

// without returns a copy of s lacking l; sets are shared by learned nogoods,
// so they are never changed in place once returned.
func (s levelSet) without(l int) levelSet {
	out := levelSet{b: s.b.clone()}
	if l/64 < len(out.b) {
		out.b[l/64] &^= 1 << (uint(l) % 64)
	}
	return out
}
