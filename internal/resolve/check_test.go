package resolve

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// rules restates the contract independently of the solver: which versions
// a final set of packages may hold.
type rules struct {
	cat   catalog
	req   Request
	inst  map[string]*semver.Version
	asked []Dep // requests of one exact pre-release ("=1.0.0-rc.1")
}

func newRules(cat catalog, req Request) *rules {
	r := &rules{cat: cat, req: req, inst: map[string]*semver.Version{}}
	for _, d := range req.Deps {
		raw := strings.TrimSpace(d.Raw)
		if v, err := semver.StrictNewVersion(strings.TrimPrefix(raw, "=")); err == nil && v.Prerelease() != "" {
			r.asked = append(r.asked, d)
		}
	}
	for _, in := range req.Installed {
		if _, ok := r.inst[in.Name]; !ok {
			r.inst[in.Name] = in.Version
		}
	}
	return r
}

// depOK: installed versions, and pre-releases the request names exactly,
// meet any constraint whose range holds them; others follow semver's
// pre-release rule, and nil means a stable version.
func (r *rules) depOK(name string, v *semver.Version, c *semver.Constraints) bool {
	if iv := r.inst[name]; iv != nil && iv.Equal(v) {
		return checkRelaxed(c, v)
	}
	for _, d := range r.asked {
		if d.Name == name && d.Constraint.Check(v) && !otherBuild(d, v) {
			return checkRelaxed(c, v)
		}
	}
	if c == nil {
		return v.Prerelease() == ""
	}
	return c.Check(v)
}

// candidate finds v in the catalog: the same build if listed, else the
// first of its precedence.
func (r *rules) candidate(name string, v *semver.Version) (Candidate, bool) {
	for _, c := range r.cat[name] {
		if c.Version.Equal(v) && c.Version.Metadata() == v.Metadata() {
			return c, true
		}
	}
	for _, c := range r.cat[name] {
		if c.Version.Equal(v) {
			return c, true
		}
	}
	return Candidate{}, false
}

// otherBuild reports whether a request for one build (Dep.Build) rules v out.
func otherBuild(d Dep, v *semver.Version) bool {
	return d.Build != "" && v.Metadata() != d.Build
}

// valid reports why final (name -> version) breaks the rules, or nil.
func (r *rules) valid(final map[string]*semver.Version) error {
	for _, d := range r.req.Deps {
		v := final[d.Name]
		if v == nil || !r.depOK(d.Name, v, d.Constraint) || otherBuild(d, v) {
			return fmt.Errorf("request %s %s not met (have %v)", d.Name, d.Raw, v)
		}
	}
	for name, iv := range r.inst {
		v := final[name]
		if v == nil {
			return fmt.Errorf("installed %s removed", name)
		}
		requestedMismatch := false
		for _, d := range r.req.Deps {
			if d.Name == name && (!checkRelaxed(d.Constraint, iv) || otherBuild(d, iv)) {
				requestedMismatch = true
			}
		}
		switch {
		case requestedMismatch:
		case r.req.UpgradeAll || r.req.Upgrade[name] || r.req.Free[name]:
			if v.LessThan(iv) {
				return fmt.Errorf("%s downgraded from %s to %s", name, iv, v)
			}
			if !UpgradeAllows(iv, v) {
				return fmt.Errorf("%s upgraded from %s to pre-release %s", name, iv, v)
			}
		default:
			if !v.Equal(iv) {
				return fmt.Errorf("pinned %s moved from %s to %s", name, iv, v)
			}
		}
	}
	for name, v := range final {
		c, ok := r.candidate(name, v)
		if !ok {
			if iv := r.inst[name]; iv != nil && iv.Equal(v) {
				continue // installed version no longer in the catalog
			}
			return fmt.Errorf("%s %s is not in the catalog", name, v)
		}
		for _, d := range c.Depends {
			if d.Name == name {
				return fmt.Errorf("%s %s depends on itself", name, v)
			}
			dv := final[d.Name]
			if dv == nil || !r.depOK(d.Name, dv, d.Constraint) {
				return fmt.Errorf("%s %s needs %s %s (have %v)", name, v, d.Name, d.Raw, dv)
			}
		}
		for _, d := range c.Conflicts {
			if dv := final[d.Name]; dv != nil && (d.Constraint == nil || checkRelaxed(d.Constraint, dv)) {
				return fmt.Errorf("%s %s conflicts with %s %s", name, v, d.Name, dv)
			}
		}
	}
	return nil
}

// checkPlan applies p to the installed set and checks the result, the step
// metadata and the install order.
func checkPlan(cat catalog, req Request, p *Plan) error {
	r := newRules(cat, req)
	final := map[string]*semver.Version{}
	for name, v := range r.inst {
		final[name] = v
	}
	pos := map[string]int{}
	for i, s := range p.Steps {
		if _, dup := pos[s.Name]; dup {
			return fmt.Errorf("%s appears twice in the plan", s.Name)
		}
		pos[s.Name] = i
		iv := r.inst[s.Name]
		if (iv == nil) != (s.From == nil) || (iv != nil && !iv.Equal(s.From)) {
			return fmt.Errorf("step %s: From = %v, installed %v", s.Name, s.From, iv)
		}
		if iv != nil && iv.Equal(s.Version) && iv.Metadata() == s.Version.Metadata() {
			return fmt.Errorf("step %s changes nothing", s.Name)
		}
		if iv != nil && iv.Equal(s.Version) != (s.Action == Replace) {
			return fmt.Errorf("step %s: %s from %s to %s", s.Name, s.Action, iv, s.Version)
		}
		final[s.Name] = s.Version
	}
	if err := r.valid(final); err != nil {
		return err
	}
	// A dependency installed after its dependent must be in a cycle with it.
	for i, s := range p.Steps {
		c, _ := r.candidate(s.Name, s.Version)
		for _, d := range c.Depends {
			if j, ok := pos[d.Name]; ok && j > i && !reaches(r, final, d.Name, s.Name) {
				return fmt.Errorf("%s installed before its dependency %s", s.Name, d.Name)
			}
		}
	}
	return nil
}

func reaches(r *rules, final map[string]*semver.Version, from, to string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(n string) bool {
		if n == to {
			return true
		}
		if seen[n] || final[n] == nil {
			return false
		}
		seen[n] = true
		c, _ := r.candidate(n, final[n])
		for _, d := range c.Depends {
			if walk(d.Name) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// bruteForce reports whether any choice of versions (or absence) per name
// satisfies the rules; ok is false when the space is too big to try.
func bruteForce(cat catalog, req Request) (exists, ok bool) {
	r := newRules(cat, req)
	opts := map[string][]*semver.Version{}
	add := func(name string, v *semver.Version) {
		for _, o := range opts[name] {
			if o != nil && o.Equal(v) {
				return
			}
		}
		opts[name] = append(opts[name], v)
	}
	for name, cs := range cat {
		opts[name] = []*semver.Version{nil}
		for _, c := range cs {
			add(name, c.Version)
		}
	}
	for name, v := range r.inst {
		if opts[name] == nil {
			opts[name] = []*semver.Version{nil}
		}
		add(name, v)
	}
	var names []string
	total := 1
	for name, o := range opts {
		names = append(names, name)
		total *= len(o)
		if total > 50000 {
			return false, false
		}
	}
	sort.Strings(names)
	final := map[string]*semver.Version{}
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(names) {
			return r.valid(final) == nil
		}
		for _, v := range opts[names[i]] {
			if v == nil {
				delete(final, names[i])
			} else {
				final[names[i]] = v
			}
			if try(i + 1) {
				return true
			}
		}
		delete(final, names[i])
		return false
	}
	return try(0), true
}

// fuzzCatalog builds a small catalog and request from data.
func fuzzCatalog(data []byte) (catalog, Request) {
	names := []string{"a", "b", "c", "d", "e"}
	versions := []string{"1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1", "3.0.0"}
	cons := []string{"", "^1", "^2", ">=1.1", "<2", "=1.0.0", ">=2.0.0-rc.0", "~1.1", ">=3", "=2.1.0-rc.1"}
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	depOf := func() Dep {
		n := next()
		s := names[n%len(names)]
		if c := cons[(n/len(names))%len(cons)]; c != "" {
			s += " " + c
		}
		return mustDep(s)
	}
	cat := catalog{}
	npkg := 1 + next()%14
	for i := 0; i < npkg; i++ {
		b := next()
		c := Candidate{Name: names[b%len(names)], Version: semver.MustParse(versions[(b/len(names))%len(versions)])}
		nd := next()
		for j := 0; j < nd%4; j++ {
			c.Depends = append(c.Depends, depOf())
		}
		if nd&0x10 != 0 {
			c.Conflicts = append(c.Conflicts, depOf())
		}
		cat[c.Name] = append(cat[c.Name], c)
	}
	req := Request{MaxSteps: 10_000}
	nreq := 1 + next()%3
	for i := 0; i < nreq; i++ {
		req.Deps = append(req.Deps, depOf())
	}
	ninst := next() % 3
	for i := 0; i < ninst; i++ {
		b := next()
		req.Installed = append(req.Installed, Installed{Name: names[b%len(names)], Version: semver.MustParse(versions[(b/len(names))%len(versions)])})
	}
	switch next() % 4 {
	case 1:
		req.UpgradeAll = true
	case 2:
		req.Upgrade = map[string]bool{names[next()%len(names)]: true}
	}
	return cat, req
}

func FuzzResolve(f *testing.F) {
	f.Add([]byte{3, 0, 1, 5, 17, 1, 2, 0})
	f.Add([]byte{8, 0, 3, 1, 2, 6, 1, 11, 0, 16, 2, 21, 18, 2, 7, 1, 3, 2, 1, 1})
	f.Add([]byte{12, 5, 2, 1, 7, 10, 3, 9, 4, 15, 19, 20, 2, 11, 3, 2, 6, 30, 1, 2, 40, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, req := fuzzCatalog(data)
		p, err := Resolve(cat, req)
		var ex *Explanation
		switch {
		case err == nil:
			if cerr := checkPlan(cat, req, p); cerr != nil {
				t.Fatalf("invalid plan %q: %v", fmtPlan(p), cerr)
			}
		case errors.Is(err, ErrTooComplex):
			// Allowed: the cap is what keeps the search bounded.
		case strings.Contains(err.Error(), "listed twice"):
			// The generator may list one installed name twice.
		case errors.As(err, &ex):
			if ex.Cause == "" {
				t.Fatalf("empty explanation")
			}
			if exists, ok := bruteForce(cat, req); ok && exists {
				t.Fatalf("Resolve said %q but a solution exists", err)
			}
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	})
}

// TestResolveAgainstBruteForce runs the fuzz property on a fixed set of
// pseudo-random inputs so every plain `go test` checks soundness (plans
// obey every rule) and completeness (no failure when a solution exists).
func TestResolveAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	var plans, failures, proven int
	for i := 0; i < 3000; i++ {
		data := make([]byte, 40)
		for j := range data {
			data[j] = byte(rng.UintN(256))
		}
		cat, req := fuzzCatalog(data)
		p, err := Resolve(cat, req)
		var ex *Explanation
		switch {
		case err == nil:
			plans++
			if cerr := checkPlan(cat, req, p); cerr != nil {
				t.Fatalf("input %x: invalid plan %q: %v", data, fmtPlan(p), cerr)
			}
		case errors.As(err, &ex):
			failures++
			if exists, ok := bruteForce(cat, req); ok {
				proven++
				if exists {
					t.Fatalf("input %x: Resolve said %q but a solution exists", data, err)
				}
			}
		case strings.Contains(err.Error(), "listed twice"):
		default:
			t.Fatalf("input %x: %v", data, err)
		}
	}
	t.Logf("%d plans checked, %d failures (%d proven by brute force)", plans, failures, proven)
	if plans == 0 || proven == 0 {
		t.Fatalf("generator too one-sided: %d plans, %d proven failures", plans, proven)
	}
}
