package resolve

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// TestBoundsMatchCheck: the versions match and conflictAllowed find by
// binary search (boundsOf) are those semver's check finds one by one, on
// thousands of generated constraints over versions with pre-releases,
// build metadata and an installed pre-release, and boundsOf takes the
// constraints it should.
func TestBoundsMatchCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	verText := func() string {
		v := fmt.Sprintf("%d.%d.%d", rng.IntN(3), rng.IntN(3), rng.IntN(3))
		switch rng.IntN(4) {
		case 0:
			v += []string{"-rc.1", "-rc.2", "-alpha", "-0", "-beta.11"}[rng.IntN(5)]
		case 1:
			v += []string{"+b1", "+b2"}[rng.IntN(2)]
		}
		return v
	}
	var cands []Candidate
	for range 60 {
		cands = append(cands, Candidate{Name: "lib", Version: semver.MustParse(verText())})
	}
	clause := func() string {
		ops := []string{"", "=", ">", ">=", "<", "<=", "=>", "=<", ">", ">=", "<", "<=", "!=", "~", "^"}
		op := ops[rng.IntN(len(ops))]
		v := verText()
		switch rng.IntN(12) {
		case 0:
			v = v[:strings.LastIndex(strings.SplitN(v, "-", 2)[0], ".")] // "1.2"
		case 1:
			v = strings.SplitN(v, ".", 2)[0] + ".x"
		case 2:
			v = "v" + v
		case 3:
			v = "*"
		}
		return op + v
	}
	fast := 0
	for k := range 5000 {
		var text string
		for i := range 1 + rng.IntN(3) {
			if i > 0 {
				text += []string{", ", " ", " || "}[rng.IntN(3)]
			}
			text += clause()
		}
		c, err := semver.NewConstraint(text)
		if err != nil {
			continue
		}
		if _, ok := boundsOf(c); ok {
			fast++
		}
		// A fresh solver each time, so no cache answers; every third
		// with a pre-release installed, which any range holding it allows.
		req := Request{}
		if k%3 == 0 {
			req.Installed = inst("lib 1.1.1-rc.1")
		}
		s := newSolver(catalog{"lib": cands}, req)
		p := s.load("lib")
		for _, in := range req.Installed {
			p.ensureInstalled(in.Version, false)
		}
		m, conf := s.match(p, c), s.conflictAllowed(p, c)
		for i, cd := range p.cands {
			want := c.Check(cd.version)
			if cd.installed {
				want = checkRelaxed(c, cd.version)
			}
			if m.has(i) != want {
				t.Errorf("%q allows %s (installed %t): got %t, want %t", text, cd.version, cd.installed, m.has(i), want)
			}
			if wantConf := !checkRelaxed(c, cd.version); conf.has(i) != wantConf {
				t.Errorf("a conflict with %q leaves %s allowed: got %t, want %t", text, cd.version, conf.has(i), wantConf)
			}
		}
	}
	if fast < 1000 {
		t.Errorf("boundsOf took %d of the constraints, want at least 1000", fast)
	}
	t.Logf("boundsOf took %d of 5000 constraints", fast)
}

// TestBoundsOf: which constraints boundsOf takes.
func TestBoundsOf(t *testing.T) {
	for _, tt := range []struct {
		c    string
		want string // the clauses taken, "" when refused
	}{
		{">=1.0.3, <=1.0.3", ">=1.0.3 <=1.0.3"},
		{"=1.2.3", "=1.2.3"},
		{"1.2.3", "=1.2.3"},
		{"=>1.0.0 =<2.0.0-rc.1", ">=1.0.0 <=2.0.0-rc.1"},
		{"1.0.0 - 2.0.0", ">=1.0.0 <=2.0.0"},
		{">1.0.0 <2.0.0+b", ">1.0.0 <2.0.0+b"},
		{"^1.2.3", ""},
		{"~1.2.3", ""},
		{"!=1.2.3", ""},
		{">=1.2", ""},
		{">=1.x", ""},
		{"*", ""},
		{">=v1.2.3", ""},
		{">=1.0.0 || <0.5.0", ""},
	} {
		c, err := semver.NewConstraint(tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.c, err)
		}
		bs, ok := boundsOf(c)
		var got []string
		for _, b := range bs.clauses {
			got = append(got, b.op+b.v.Original())
		}
		if g := strings.Join(got, " "); ok != (tt.want != "") || g != tt.want {
			t.Errorf("boundsOf(%q) = %q, %t; want %q", tt.c, g, ok, tt.want)
		}
	}
}
