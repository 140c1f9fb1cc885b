package resolve

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestPlanRemoval(t *testing.T) {
	// app -> lib -> base; tool -> base; extra is an orphan dependency.
	installed := []Node{
		{Name: "app", Version: "1.0.0", Depends: []string{"lib"}},
		{Name: "lib", Version: "1.1.0", Auto: true, Depends: []string{"base"}},
		{Name: "base", Version: "2.0.0", Auto: true},
		{Name: "tool", Version: "0.1.0", Depends: []string{"Base"}},
		{Name: "extra", Version: "1.0.0", Auto: true},
	}
	tests := []struct {
		name    string
		remove  []string
		cascade bool
		want    []string
		needed  string // the refused package, if any
		by      []string
	}{
		{"leaf", []string{"app"}, false, []string{"app"}, "", nil},
		{"dependents first", []string{"lib", "app"}, false, []string{"app", "lib"}, "", nil},
		{"any case", []string{"APP"}, false, []string{"app"}, "", nil},
		{"needed", []string{"lib"}, false, nil, "lib", []string{"app"}},
		{"needed by two", []string{"base"}, false, nil, "base", []string{"lib", "tool"}},
		{"cascade stops at shared", []string{"app"}, true, []string{"app", "lib"}, "", nil},
		{"cascade takes all", []string{"app", "tool"}, true, []string{"app", "lib", "tool", "base"}, "", nil},
		{"cascade leaves unrelated orphans", []string{"tool"}, true, []string{"tool"}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PlanRemoval(installed, tt.remove, tt.cascade)
			if tt.needed != "" {
				var ne *NeededError
				if !errors.As(err, &ne) || ne.Name != tt.needed {
					t.Fatalf("err = %v, want %s refused", err, tt.needed)
				}
				var by []string
				for _, d := range ne.Dependents {
					by = append(by, d.Name)
				}
				if !slices.Equal(by, tt.by) {
					t.Fatalf("dependents %v, want %v", by, tt.by)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Any order with dependents first is right; this one is the
			// deterministic order the code gives.
			if !slices.Equal(got, tt.want) {
				t.Fatalf("order %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := PlanRemoval(installed, []string{"nope"}, false); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("unknown package: %v", err)
	}
}

func TestNeededErrorText(t *testing.T) {
	one := &NeededError{Name: "libgreet", Dependents: []Node{{Name: "hello", Version: "1.0.0"}}}
	if got, want := one.Error(), "cannot uninstall libgreet: hello 1.0.0 depends on it (uninstall hello first, or both together: dist-client uninstall hello libgreet)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	two := &NeededError{Name: "base", Dependents: []Node{{Name: "a", Version: "1.0.0"}, {Name: "b", Version: "2.0.0"}}}
	if got, want := two.Error(), "cannot uninstall base: a 1.0.0 and b 2.0.0 depend on it (uninstall them first, or all together: dist-client uninstall a b base)"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// Many dependents are named up to a bound, the command not spelled out:
// 256 made one line of 3,267 bytes.
func TestNeededErrorManyDependents(t *testing.T) {
	var deps []Node
	for i := range 256 {
		deps = append(deps, Node{Name: fmt.Sprintf("d%03d", i), Version: "1.0.0"})
	}
	e := &NeededError{Name: "base", Dependents: deps}
	want := "cannot uninstall base: 256 installed packages depend on it, d000 1.0.0, d001 1.0.0, d002 1.0.0, d003 1.0.0, d004 1.0.0, d005 1.0.0, d006 1.0.0, d007 1.0.0, d008 1.0.0, d009 1.0.0 and 246 others (uninstall them first, or all together)"
	if got := e.Error(); got != want {
		t.Errorf("got %q (%d bytes)\nwant %q", got, len(got), want)
	}
}

// Two packages that depend on each other: neither can go first, and the
// hint says both together (it said "uninstall cycb first", refused the
// same way).
func TestNeededMutual(t *testing.T) {
	installed := []Node{
		{Name: "cyca", Version: "1.0.0", Depends: []string{"cycb"}},
		{Name: "cycb", Version: "1.0.0", Depends: []string{"cyca"}},
		{Name: "app", Version: "1.0.0", Depends: []string{"lib"}},
		{Name: "lib", Version: "1.0.0"},
		{Name: "x", Version: "1.0.0", Depends: []string{"app"}},
	}
	for _, tt := range []struct {
		remove []string
		want   string
	}{
		{[]string{"cyca"}, "cannot uninstall cyca: cycb 1.0.0 depends on it, and it on cycb (uninstall both together: dist-client uninstall cycb cyca)"},
		{[]string{"lib"}, "cannot uninstall lib: app 1.0.0 depends on it, and 1 more installed package through it (uninstall them all together: dist-client uninstall app x lib)"},
		// x depends on app, lib does not: no "and it on app" (the review).
		{[]string{"x", "lib"}, "cannot uninstall lib: app 1.0.0 depends on it (uninstall app first, or both together: dist-client uninstall app lib x)"},
	} {
		_, err := PlanRemoval(installed, tt.remove, false)
		if err == nil || err.Error() != tt.want {
			t.Errorf("uninstall %v: %v\nwant %s", tt.remove, err, tt.want)
		}
	}
	if order, err := PlanRemoval(installed, []string{"cycb", "cyca"}, false); err != nil || len(order) != 2 {
		t.Errorf("uninstall cycb cyca: %v, %v; want both", order, err)
	}
}

// A package needed through a chain or a cycle: the hint names everything
// that must go with it (it said "uninstall ch3 first", which ch2 needs).
func TestNeededThrough(t *testing.T) {
	var cycle []Node
	for i := range 14 {
		cycle = append(cycle, Node{Name: fmt.Sprintf("ch%02d", i), Version: "1.0.0", Depends: []string{fmt.Sprintf("ch%02d", (i+1)%14)}})
	}
	cycle = append(cycle, Node{Name: "other", Version: "1.0.0"})
	_, err := PlanRemoval(cycle, []string{"ch00"}, false)
	var ne *NeededError
	if !errors.As(err, &ne) || len(ne.Dependents) != 1 || ne.Dependents[0].Name != "ch13" || len(ne.Through) != 12 || ne.Through[0] != "ch01" {
		t.Fatalf("err = %v (%+v)", err, ne)
	}
	want := "cannot uninstall ch00: ch13 1.0.0 depends on it, and 12 more installed packages through it (ch01, ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09, ch10 and 2 more); uninstall them all together"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err, want)
	}
	// Three dependents and a chain of eight: listed without a command, the
	// chain whole (it panicked slicing ten).
	wide := []Node{{Name: "lib", Version: "1"}}
	for _, d := range []string{"d1", "d2", "d3"} {
		wide = append(wide, Node{Name: d, Version: "1", Depends: []string{"lib"}})
	}
	for i := range 8 {
		prev := "d1"
		if i > 0 {
			prev = fmt.Sprintf("c%d", i-1)
		}
		wide = append(wide, Node{Name: fmt.Sprintf("c%d", i), Version: "1", Depends: []string{prev}})
	}
	_, err = PlanRemoval(wide, []string{"lib"}, false)
	if err == nil || !strings.HasSuffix(err.Error(), "(c0, c1, c2, c3, c4, c5, c6, c7); uninstall them all together") {
		t.Fatalf("wide: %v", err)
	}
	// A short chain gives the command to type, with the other names asked.
	chain := []Node{{Name: "app", Version: "1.0.0", Depends: []string{"liba"}}, {Name: "liba", Version: "1.0.0", Depends: []string{"libdeep"}}, {Name: "libdeep", Version: "1.0.0"}, {Name: "tool", Version: "1"}}
	_, err = PlanRemoval(chain, []string{"libdeep", "tool"}, false)
	want = "cannot uninstall libdeep: liba 1.0.0 depends on it, and 1 more installed package through it (uninstall them all together: dist-client uninstall liba app libdeep tool)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %q", err, want)
	}
	// The whole cycle at once goes.
	var all []string
	for _, n := range cycle[:14] {
		all = append(all, n.Name)
	}
	if order, err := PlanRemoval(cycle, all, false); err != nil || len(order) != 14 {
		t.Fatalf("the whole cycle: %v %v", order, err)
	}
}

func TestOrphans(t *testing.T) {
	installed := []Node{
		{Name: "app", Depends: []string{"lib"}},
		{Name: "lib", Auto: true},
		{Name: "old", Auto: true},
		{Name: "mine"},
	}
	if got := Orphans(installed); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("Orphans = %v", got)
	}
}
