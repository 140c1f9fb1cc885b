package resolve

import "container/heap"

func (s *solver) save(p *pkg) {
	s.trail = append(s.trail, snapshot{p, len(p.restr), p.domain, p.domCount, p.reqCount, p.impCount, p.chosen, p.level})
}

func (s *solver) undo(mark int) {
	for i := len(s.trail) - 1; i >= mark; i-- {
		sn := s.trail[i]
		p := sn.p
		p.restr = p.restr[:sn.nrestr]
		p.domain, p.domCount, p.reqCount, p.impCount, p.chosen, p.level = sn.domain, sn.domCount, sn.reqCount, sn.impCount, sn.chosen, sn.level
		s.sync(p)
	}
	s.trail = s.trail[:mark]
}

// restrict adds r to q and fails when q can no longer be satisfied.
func (s *solver) restrict(q *pkg, r *restriction) *failure {
	s.save(q)
	q.restr = append(q.restr, r)
	if !q.domain.within(r.allowed) { // domains are never changed in place, so an unchanged one is shared
		q.domain = q.domain.and(r.allowed)
		q.domCount = q.domain.count()
	}
	first := r.requires() && q.reqCount+q.impCount == 0
	switch {
	case r.opens():
		if q.seq < 0 {
			q.seq = s.nextSeq
			s.nextSeq++
		}
		q.reqCount++
	case r.kind == rImplied:
		q.impCount++
	}
	s.sync(q)
	if q.chosen != nil {
		if !r.allowed.has(q.chosen.idx) {
			var cs levelSet
			cs.add(r.level)
			cs.add(q.level)
			return &failure{cs: cs, why: &clashReason{r: r, chosen: q.chosen, restr: append([]*restriction(nil), q.restr...)}}
		}
		return nil
	}
	if q.reqCount+q.impCount == 0 {
		return nil
	}
	if q.domCount == 0 {
		return &failure{cs: s.whyDomain(q), why: &noMatchReason{p: q, restr: append([]*restriction(nil), q.restr...)}}
	}
	if first {
		// q is required from r's level on: so is what q needs whichever
		// version is chosen.
		for _, im := range s.impliedBy(q) {
			if f := s.restrict(im.q, &restriction{kind: rImplied, dep: im.dep, level: r.level, allowed: im.allowed, imp: im}); f != nil {
				return f
			}
		}
	}
	return nil
}

// impliedBy returns what p needs of other packages whichever of its
// versions is chosen (see implied), computed once: the packages every
// version of p depends on, each with the union of the versions p's
// versions allow, kept only when that leaves out some version (or the
// package does not exist), since otherwise it tells the search nothing.
func (s *solver) impliedBy(p *pkg) []*implied {
	if p.impliedDone {
		return p.implied
	}
	p.impliedDone = true
	if len(p.cands) == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, d := range p.cands[0].cand.Depends {
		if d.Name == p.name || seen[d.Name] { // all of a version's dependencies on q count at once, below
			continue
		}
		seen[d.Name] = true
		q := s.load(d.Name)
		im := &implied{via: p, q: q, allowed: newBits(len(q.cands)), dep: d}
		every := true
		for _, c := range p.cands {
			var mask bitset // what c allows of q: all its dependencies on q at once
			for _, e := range c.cand.Depends {
				if e.Name != d.Name {
					continue
				}
				if rawOf(e) != rawOf(im.dep) {
					im.mixed = true
				}
				m := s.match(q, e.Constraint)
				if mask == nil {
					mask = m
				} else {
					mask = mask.and(m)
				}
			}
			if mask == nil {
				every = false
				break
			}
			for i := range im.allowed {
				im.allowed[i] |= mask[i]
			}
		}
		if !every || len(q.cands) > 0 && im.allowed.count() == len(q.cands) {
			continue
		}
		if im.mixed {
			im.dep = Dep{Name: d.Name}
		}
		p.implied = append(p.implied, im)
	}
	return p.implied
}

// whyDomain returns the levels that make q required and that removed the
// candidates missing from its domain.
func (s *solver) whyDomain(q *pkg) levelSet {
	var cs levelSet
	minReq := -1
	for _, r := range q.restr {
		if r.requires() && (minReq < 0 || r.level < minReq) {
			minReq = r.level
		}
	}
	if minReq >= 0 {
		cs.add(minReq)
	}
	for i := range q.cands {
		if q.domain.has(i) {
			continue
		}
		best := -1
		for _, r := range q.restr {
			if !r.allowed.has(i) && (best < 0 || r.level < best) {
				best = r.level
			}
		}
		if best >= 0 {
			cs.add(best)
		}
	}
	return cs
}

// apply adds the dependencies and conflicts of c, chosen at level.
func (s *solver) apply(c *cand, level int) *failure {
	if c.selfDep {
		var cs levelSet
		cs.add(level)
		return &failure{cs: cs, why: &selfDepReason{c: c}}
	}
	rs := s.imposed(c, level)
	for i := range rs {
		if f := s.restrict(c.tried.targets[i], &rs[i]); f != nil {
			return f
		}
	}
	return nil
}

// imposed returns the restrictions choosing c at level adds, its
// dependencies then its conflicts (their packages are c.targets). They
// are made once per level and kept until c is chosen at another:
// restrictions are immutable and say nothing but c, level and what is
// allowed, and a search that gives up chooses the same versions at the
// same levels over and over. Made anew at every choice they were 70% of
// the pigeonhole catalog's 1.6 GB of allocation (pigeonCatalog), and,
// kept by the reasons of learned nogoods, most of its 190 MB live heap.
func (s *solver) imposed(c *cand, level int) []restriction {
	t := c.state()
	if t.imposed != nil && t.imposedAt == level {
		return t.imposed
	}
	deps, confl := c.cand.Depends, c.cand.Conflicts
	if t.targets == nil {
		t.targets = make([]*pkg, 0, len(deps)+len(confl))
		for _, d := range deps {
			t.targets = append(t.targets, s.load(d.Name))
		}
		for _, d := range confl {
			t.targets = append(t.targets, s.load(d.Name))
		}
	}
	rs := make([]restriction, 0, len(deps)+len(confl)) // not reused: failures keep pointers to the old
	for i, d := range deps {
		rs = append(rs, restriction{kind: rDep, dep: d, from: c, level: level, allowed: s.match(t.targets[i], d.Constraint)})
	}
	for i, d := range confl {
		rs = append(rs, restriction{kind: rConflict, dep: d, from: c, level: level, allowed: s.conflictAllowed(t.targets[len(deps)+i], d.Constraint)})
	}
	t.imposed, t.imposedAt = rs, level
	return rs
}

func (s *solver) assign(p *pkg, c *cand, level int) *failure {
	s.save(p)
	p.chosen = c
	p.level = level
	s.sync(p)
	if ng := s.held(c); ng != nil {
		// The levels are gathered only for a nogood that holds: most
		// do not, and a set per nogood looked at was a quarter of
		// what a hard search allocated.
		var cs levelSet
		for _, m := range ng.members {
			cs.add(m.pkg.level)
		}
		return &failure{cs: cs, why: ng.why}
	}
	return s.apply(c, level)
}

// search decides the open packages from level on. It returns nil once every
// required package is chosen (leaving the choices in place) or the failure.
func (s *solver) search(level int) *failure {
	p := s.popOpen()
	if p == nil {
		return nil
	}
	var cs levelSet
	var fails []valueFail
	omitted := 0
	dom := p.domain
	for _, c := range tryOrder(p) {
		if !dom.has(c.idx) {
			continue
		}
		if s.steps >= s.maxSteps || s.steps%256 == 0 && s.ctx != nil && s.ctx.Err() != nil {
			return &failure{tooComplex: true} // Resolve tells a stop from the cap
		}
		s.steps++
		p.tries++
		mark := len(s.trail)
		s.decisions = append(s.decisions[:level], c)
		f := s.assign(p, c, level)
		if f == nil {
			if f = s.search(level + 1); f == nil {
				return nil
			}
		}
		s.undo(mark)
		if f.tooComplex {
			return f
		}
		if !f.cs.has(level) {
			// The failure does not involve this choice: jump back past it.
			return f
		}
		rest := f.cs.without(level)
		s.learn(c, rest, f.why)
		cs.union(rest)
		if len(fails) < maxFailDetail {
			fails = append(fails, valueFail{c: c, why: f.why})
		} else {
			omitted++
		}
	}
	s.decisions = s.decisions[:level]
	cs.union(s.whyDomain(p))
	if len(fails) == 0 {
		return &failure{cs: cs, why: &noMatchReason{p: p, restr: append([]*restriction(nil), p.restr...)}}
	}
	if len(fails) == 1 && omitted == 0 {
		return &failure{cs: cs, why: fails[0].why}
	}
	return &failure{cs: cs, why: &exhaustedReason{p: p, fails: fails, omitted: omitted}}
}

// The open packages (required, not chosen) are kept in an indexed heap
// ordered by fewest allowed versions, then by when they were first
// required: forced choices go first, which keeps failures close to their
// cause. sync restores the invariant "in the heap iff open" after any change.
type openHeap []*pkg

func (h openHeap) Len() int { return len(h) }
func (h openHeap) Less(i, j int) bool {
	if h[i].domCount != h[j].domCount {
		return h[i].domCount < h[j].domCount
	}
	return h[i].seq < h[j].seq
}
func (h openHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *openHeap) Push(x any) {
	p := x.(*pkg)
	p.heapIdx = len(*h)
	*h = append(*h, p)
}
func (h *openHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	*h = old[:len(old)-1]
	p.heapIdx = -1
	return p
}

func (s *solver) sync(p *pkg) {
	open := p.reqCount > 0 && p.chosen == nil
	switch {
	case open && p.heapIdx < 0:
		heap.Push(&s.open, p)
	case open:
		heap.Fix(&s.open, p.heapIdx)
	case p.heapIdx >= 0:
		heap.Remove(&s.open, p.heapIdx)
	}
}

func (s *solver) popOpen() *pkg {
	if s.open.Len() == 0 {
		return nil
	}
	return heap.Pop(&s.open).(*pkg)
}

// tryOrder is the order search tries p's versions in: newest first, but
// the installed version first for a Request.Free package (p.cands stays
// newest first: explanations list it so).
func tryOrder(p *pkg) []*cand {
	if !p.preferInst || p.instCand == nil || p.instCand.idx == 0 {
		return p.cands
	}
	out := make([]*cand, 0, len(p.cands))
	out = append(out, p.instCand)
	for _, c := range p.cands {
		if c != p.instCand {
			out = append(out, c)
		}
	}
	return out
}
