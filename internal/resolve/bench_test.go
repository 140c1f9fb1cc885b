package resolve

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/Masterminds/semver/v3"
)

// genCatalog makes a deterministic catalog of groups*perGroup names with 10
// versions each (1.0.0-1.4.0 and 2.0.0-2.4.0). Inside a group name i
// depends on i+1 and i+2 (a chain as deep as the group, full of diamonds);
// about one name in ten also depends on a random name of a later group.
// Every dependency of a version with major M asks for ^M, so a solution
// exists, except that with poisonBottom the major-2 versions at the bottom
// of group 0 need a package that does not exist, forcing the search back
// to major 1 all the way up the chain.
func genCatalog(groups, perGroup int, poisonBottom bool) catalog {
	rng := rand.New(rand.NewPCG(1, 2))
	name := func(g, i int) string { return fmt.Sprintf("p%03d-%03d", g, i) }
	caret := map[uint64]*semver.Constraints{}
	for _, m := range []uint64{1, 2} {
		c, err := semver.NewConstraint(fmt.Sprintf("^%d", m))
		if err != nil {
			panic(err)
		}
		caret[m] = c
	}
	cat := make(catalog, groups*perGroup)
	for g := 0; g < groups; g++ {
		for i := 0; i < perGroup; i++ {
			var extra []int
			if g+1 < groups && rng.IntN(10) == 0 {
				extra = []int{g + 1 + rng.IntN(groups-g-1), rng.IntN(perGroup)}
			}
			n := name(g, i)
			for _, major := range []uint64{1, 2} {
				for minor := uint64(0); minor < 5; minor++ {
					c := Candidate{Name: n, Version: semver.New(major, minor, 0, "", "")}
					d := func(target string) Dep {
						return Dep{Name: target, Constraint: caret[major], Raw: fmt.Sprintf("^%d", major)}
					}
					for _, j := range []int{i + 1, i + 2} {
						if j < perGroup {
							c.Depends = append(c.Depends, d(name(g, j)))
						}
					}
					if extra != nil {
						c.Depends = append(c.Depends, d(name(extra[0], extra[1])))
					}
					if poisonBottom && g == 0 && i == perGroup-1 && major == 2 {
						c.Depends = append(c.Depends, Dep{Name: "does-not-exist"})
					}
					cat[n] = append(cat[n], c)
				}
			}
		}
	}
	return cat
}

func benchResolve(b *testing.B, cat catalog, target string, wantMajor uint64) {
	req := Request{Deps: []Dep{{Name: target}}}
	p, err := Resolve(cat, req)
	if err != nil {
		b.Fatal(err)
	}
	last := p.Steps[len(p.Steps)-1]
	if last.Name != target || last.Version.Major() != wantMajor {
		b.Fatalf("last step %s %s, want %s major %d", last.Name, last.Version, target, wantMajor)
	}
	b.ReportMetric(float64(len(p.Steps)), "packages")
	b.ReportAllocs()
	start := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := Resolve(cat, req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if cpu := cpuTime() - start; cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

// BenchmarkResolve: 100,000 versions (100 groups of 100 names, 10
// versions each); the request is the top of a 100-deep chain with diamonds
// and links into later groups.
func BenchmarkResolve(b *testing.B) {
	cat := genCatalog(100, 100, false)
	benchResolve(b, cat, "p000-000", 2)
}

// BenchmarkResolveBacktrack: the newest versions at the bottom of the chain
// are unsatisfiable, so every name of the chain has to go back to major 1.
func BenchmarkResolveBacktrack(b *testing.B) {
	cat := genCatalog(100, 100, true)
	benchResolve(b, cat, "p000-000", 1)
}
