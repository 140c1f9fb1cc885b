package resolve

import (
	"github.com/Masterminds/semver/v3"
)

// checkKey identifies one constraint check; build metadata never matters.
type checkKey struct {
	c                   *semver.Constraints
	major, minor, patch uint64
	pre                 string
	relaxed             bool
}

// maxChecks bounds the memo of check. Its entries number distinct
// constraints times versions: a 4,045-row catalog of exact pins (every ra
// 1.0.i needing rc =1.0.i) filled it with 4 million entries, 290 MB of a
// 1.1 GB peak. At about 100 bytes an entry, 1<<16 entries is some 6.5 MB
// whatever the catalog; a full memo starts again empty, which keeps the
// sharing it exists for (the same constraint values checked against the
// same versions, over and over) in any real catalog.
const maxChecks = 1 << 16

// check is c.Check(v) (or checkRelaxed) memoised: catalogs share constraint
// values between many packages, and a failing semver check formats an
// error message, which dominated resolve time.
func (s *solver) check(c *semver.Constraints, v *semver.Version, relaxed bool) bool {
	k := checkKey{c, v.Major(), v.Minor(), v.Patch(), v.Prerelease(), relaxed}
	if ok, hit := s.checks[k]; hit {
		return ok
	}
	if len(s.checks) >= maxChecks {
		clear(s.checks)
	}
	var ok bool
	if relaxed {
		ok = checkRelaxed(c, v)
	} else {
		ok = c.Check(v)
	}
	s.checks[k] = ok
	return ok
}

// match returns the candidates of p that c allows (cached per constraint).
func (s *solver) match(p *pkg, c *semver.Constraints) bitset {
	if m, ok := p.masks[c]; ok {
		return m
	}
	var m bitset
	if bs := s.bounds(c); bs != nil {
		m = bs.allowed(p, false)
	} else {
		m = newBits(len(p.cands))
		for i, cd := range p.cands {
			ok := false
			switch {
			case c == nil:
				ok = cd.relaxed() || cd.version.Prerelease() == ""
			default:
				ok = s.check(c, cd.version, cd.relaxed())
			}
			if ok {
				m.set(i)
			}
		}
	}
	p.masks[c] = m
	return m
}

// bounds returns boundsOf(c), nil when not ok, parsed once per constraint:
// catalogs share constraint values between many packages, and parsing
// each time match was asked made BenchmarkResolve allocate 6% more.
func (s *solver) bounds(c *semver.Constraints) *bounds {
	bs, seen := s.boundsMemo[c]
	if !seen {
		if b, ok := boundsOf(c); ok {
			bs = &b
		}
		s.boundsMemo[c] = bs
	}
	return bs
}

// conflictAllowed returns the candidates of p a conflict with constraint c
// leaves allowed. A conflict covers pre-releases inside its range too (and
// every version when c is nil): being conservative here never installs two
// packages that said they break each other.
func (s *solver) conflictAllowed(p *pkg, c *semver.Constraints) bitset {
	if c == nil {
		return newBits(len(p.cands))
	}
	if m, ok := p.conflictMasks[c]; ok {
		return m
	}
	out := newBits(len(p.cands))
	if bs := s.bounds(c); bs != nil {
		covered := bs.allowed(p, true)
		for i := range p.cands {
			if !covered.has(i) {
				out.set(i)
			}
		}
	} else {
		for i, cd := range p.cands {
			if !s.check(c, cd.version, true) {
				out.set(i)
			}
		}
	}
	if p.conflictMasks == nil {
		p.conflictMasks = map[*semver.Constraints]bitset{}
	}
	p.conflictMasks[c] = out
	return out
}

// markAsked marks the pre-releases the request names exactly (cand.asked):
// a request "=version" (name@version) of a pre-release. A range that
// names one (name@>=2.0.0-rc.0) opts into pre-releases for the request
// only. Called before any constraint is matched (match caches its masks).
func (s *solver) markAsked() {
	for _, d := range s.req.Deps {
		bs, ok := boundsOf(d.Constraint)
		if !ok || len(bs.clauses) != 1 || (bs.clauses[0].op != "=" && bs.clauses[0].op != "") {
			continue
		}
		v := bs.clauses[0].v
		if v.Prerelease() == "" {
			continue
		}
		for _, cd := range s.load(d.Name).cands {
			if cd.version.Equal(v) && (d.Build == "" || cd.version.Metadata() == d.Build) {
				cd.asked = true
			}
		}
	}
}
