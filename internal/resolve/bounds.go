package resolve

import (
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// bound is one clause of a constraint that compares by precedence with a
// full version: "<", "<=", ">", ">=" or "=" (which "" means too).
type bound struct {
	op string
	v  *semver.Version
}

// bounds is a constraint that is a conjunction of bounds, as ">=1.2.0,
// <2.0.0" or "=1.2.3": the versions it allows are a run of a package's
// versions, which are sorted, so two binary searches per clause find them
// instead of a semver check per version, each of which formats an error
// when it fails. A catalog of 2,000 exact pins on a package of 2,000
// versions took 4 million checks and 12 s; the attacker's catalog with
// its pins written as ranges (hostileRange) took 5.4 s and 810 MB at
// N=1000.
type bounds struct {
	clauses []bound
	// pre is semver's rule for pre-releases: a version with one is
	// allowed only when a clause names a pre-release (or the check is
	// relaxed, for an installed version or a conflict).
	pre bool
}

// boundsOf returns c as bounds when it is a conjunction of comparisons
// with full versions (no "||", "~", "^", "!=", wildcard, partial version
// or "v" prefix, whose rules in semver differ from plain precedence), and
// ok false otherwise; the callers then check each version.
func boundsOf(c *semver.Constraints) (bs bounds, ok bool) {
	if c == nil || c.IncludePrerelease {
		return bounds{}, false
	}
	text := c.String() // the clauses as parsed, each "op" + "version", joined by " "
	if text == "" || strings.Contains(text, "||") {
		return bounds{}, false
	}
	for _, f := range strings.Fields(text) {
		op := opOf(f)
		if op == "" && strings.ContainsAny(f[:1], "!~^<>=") {
			return bounds{}, false
		}
		v, err := semver.StrictNewVersion(f[len(op):])
		if err != nil {
			return bounds{}, false
		}
		switch op {
		case "=>":
			op = ">="
		case "=<":
			op = "<="
		case "":
			op = "="
		}
		bs.clauses = append(bs.clauses, bound{op: op, v: v})
		bs.pre = bs.pre || v.Prerelease() != ""
	}
	return bs, len(bs.clauses) > 0
}

// opOf returns the comparison f starts with, or "" when it starts with
// none (or with another operator, which boundsOf refuses).
func opOf(f string) string {
	for _, op := range []string{">=", "=>", "<=", "=<", ">", "<", "="} {
		if strings.HasPrefix(f, op) {
			return op
		}
	}
	return ""
}

// allowed returns the candidates of p that bs allows: as Check would, or
// as checkRelaxed would for every version when relaxed, else for the
// installed one only.
func (bs *bounds) allowed(p *pkg, relaxed bool) bitset {
	n := len(p.cands)
	// p.cands is newest first: "at or below v" starts at the first
	// version not above it, "below v" at the first below it.
	atOrBelow := func(v *semver.Version) int {
		return sort.Search(n, func(i int) bool { return p.cands[i].version.Compare(v) <= 0 })
	}
	below := func(v *semver.Version) int {
		return sort.Search(n, func(i int) bool { return p.cands[i].version.Compare(v) < 0 })
	}
	lo, hi := 0, n // the run allowed: p.cands[lo:hi]
	for _, b := range bs.clauses {
		switch b.op {
		case "<":
			lo = max(lo, below(b.v))
		case "<=":
			lo = max(lo, atOrBelow(b.v))
		case ">":
			hi = min(hi, atOrBelow(b.v))
		case ">=":
			hi = min(hi, below(b.v))
		case "=":
			lo, hi = max(lo, atOrBelow(b.v)), min(hi, below(b.v))
		}
	}
	m := newBits(n)
	for i := lo; i < hi; i++ {
		cd := p.cands[i]
		if bs.pre || relaxed || cd.relaxed() || cd.version.Prerelease() == "" {
			m.set(i)
		}
	}
	return m
}
