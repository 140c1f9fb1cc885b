package resolve

// nogood is a set of decisions learned to fail together: it holds when
// every member is chosen.
type nogood struct {
	members []*cand
	why     reason
	id      int // order learned: of several that hold, the first counts
}

const maxNogoods = 100_000

// learn records that c together with the decisions in cs fails. It is
// called once c's choice is undone, so c is the one member not chosen:
// the nogood watches it (see held).
func (s *solver) learn(c *cand, cs levelSet, why reason) {
	if s.nNogoods >= maxNogoods {
		return
	}
	ng := &nogood{members: []*cand{c}, why: why, id: s.nNogoods}
	cs.b.each(func(l int) {
		if l > 0 && l < len(s.decisions) {
			ng.members = append(ng.members, s.decisions[l])
		}
	})
	c.state().watch = append(c.state().watch, ng)
	s.nNogoods++
}

// held returns the first learned nogood that holds now that c is chosen,
// or nil. Every nogood watches one member that is not chosen (unless it
// holds), so only those watching c can have come to hold; each of the
// others moves its watch to another member not chosen. Undoing choices
// never makes a watched member chosen, so backtracking leaves the watches
// alone, as CDCL solvers' watched literals. Before, assign looked at
// every member of every nogood c belongs to, up to the 100,000 learned:
// 94% of the pigeonhole catalog's 200 s of CPU (pigeonCatalog).
func (s *solver) held(c *cand) *nogood {
	var first *nogood
	t := c.tried
	if t == nil {
		return nil
	}
	keep := t.watch[:0]
	for _, ng := range t.watch {
		if w := unchosen(ng); w != nil {
			w.state().watch = append(w.state().watch, ng)
			continue
		}
		keep = append(keep, ng)
		if first == nil || ng.id < first.id {
			first = ng
		}
	}
	clear(t.watch[len(keep):]) // the moved ones, for the garbage collector
	t.watch = keep
	return first
}

// unchosen returns a member of ng not chosen, or nil.
func unchosen(ng *nogood) *cand {
	for _, m := range ng.members {
		if m.pkg.chosen != m {
			return m
		}
	}
	return nil
}
