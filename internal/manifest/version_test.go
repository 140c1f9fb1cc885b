package manifest

import (
	"errors"
	"strings"
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string // substring; "" means valid
	}{
		{"1.2.3", ""},
		{"0.0.0", ""},
		{"2.0.0-rc.1", ""},
		{"1.0.0-alpha", ""},
		{"1.0.0-0.3.7", ""},
		{"1.0.0+build.5", ""},
		{"1.0.0-beta+exp.sha.5114f85", ""},
		{"10.20.30", ""},

		{"1.2", `"1.2" is not a SemVer 2.0.0 version (want MAJOR.MINOR.PATCH, e.g. 1.2.0)`},
		{"1", `e.g. 1.0.0`},
		{"v1.2.3", `"v1.2.3" is not a SemVer 2.0.0 version (want MAJOR.MINOR.PATCH, e.g. 1.2.3)`},
		{"", `"" is not a SemVer 2.0.0 version`},
		{"01.2.3", "is not a SemVer 2.0.0 version"},
		{"1.02.3", "is not a SemVer 2.0.0 version"},
		{"1.2.3.4", "is not a SemVer 2.0.0 version"},
		{"1.2.3-", "is not a SemVer 2.0.0 version"},
		{"1.2.3-01", "is not a SemVer 2.0.0 version"},
		{"1.2.3+", "is not a SemVer 2.0.0 version"},
		{"1.2.x", "is not a SemVer 2.0.0 version"},
		{" 1.2.3", "is not a SemVer 2.0.0 version"},
		{"latest", "is not a SemVer 2.0.0 version"},
		{"-1.2.3", "is not a SemVer 2.0.0 version"},
	}
	for _, tt := range tests {
		v, err := ParseVersion(tt.in)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ParseVersion(%q) = %v", tt.in, err)
			} else if v.String() != tt.in {
				t.Errorf("ParseVersion(%q).String() = %q", tt.in, v.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseVersion(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
		}
		var verr *VersionError
		if err != nil && !errors.As(err, &verr) {
			t.Errorf("ParseVersion(%q) error is %T, want *VersionError", tt.in, err)
		}
	}
}

func TestVersionPrecedence(t *testing.T) {
	// SemVer §11, in increasing order.
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
		"1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := 0; i+1 < len(order); i++ {
		a, b := mustVersion(t, order[i]), mustVersion(t, order[i+1])
		if !a.LessThan(b) {
			t.Errorf("%s should sort before %s", a, b)
		}
	}
}

func TestParseConstraint(t *testing.T) {
	tests := []struct {
		in      string
		allow   []string
		deny    []string
		wantErr string
	}{
		{in: "1.2.3", allow: []string{"1.2.3"}, deny: []string{"1.2.4", "1.2.3-rc.1"}},
		{in: "=1.2.3", allow: []string{"1.2.3", "1.2.3+b1"}, deny: []string{"1.2.2"}},
		{in: ">=1.2, <2", allow: []string{"1.2.0", "1.9.9"}, deny: []string{"1.1.9", "2.0.0", "2.0.0-rc.1", "1.5.0-beta"}},
		{in: ">=1.2 <2", allow: []string{"1.5.0"}, deny: []string{"2.0.0"}},
		{in: "  >=1.2,\n\t<2 ", allow: []string{"1.5.0"}, deny: []string{"2.0.0"}},
		{in: "^1.4", allow: []string{"1.4.0", "1.9.0"}, deny: []string{"1.3.9", "2.0.0"}},
		{in: "^0.2.3", allow: []string{"0.2.3", "0.2.9"}, deny: []string{"0.3.0"}},
		{in: "~1.2", allow: []string{"1.2.0", "1.2.9"}, deny: []string{"1.3.0"}},
		{in: "*", allow: []string{"0.0.1", "9.9.9"}, deny: []string{"1.0.0-rc.1"}},
		{in: "1.2 - 1.4", allow: []string{"1.3.0", "1.4.0"}, deny: []string{"1.5.0"}},
		{in: "<1 || >=3", allow: []string{"0.9.0", "3.1.0"}, deny: []string{"2.0.0"}},
		{in: "!=1.2.3", allow: []string{"1.2.4"}, deny: []string{"1.2.3"}},
		// A constraint that names a pre-release lets pre-releases in.
		{in: ">=2.0.0-rc.1", allow: []string{"2.0.0-rc.1", "2.0.0-rc.2", "2.0.0"}, deny: []string{"2.0.0-beta"}},
		{in: "=2.0.0-rc.1", allow: []string{"2.0.0-rc.1"}, deny: []string{"2.0.0-rc.2"}},

		{in: "", wantErr: "constraint is empty"},
		{in: "   ", wantErr: "constraint is empty"},
		{in: ">=1.2,", wantErr: `invalid constraint ">=1.2,"`},
		{in: "latest", wantErr: `invalid constraint "latest"`},
		{in: ">>1", wantErr: "invalid constraint"},
		{in: "1.2.3.4", wantErr: "invalid constraint"},
		{in: strings.Repeat("1", 600), wantErr: "at most 512"},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseConstraint(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConstraint(%q) = %v", tt.in, err)
			continue
		}
		d := Dependency{Name: "x", Constraint: c}
		for _, v := range tt.allow {
			if !d.Allows(mustVersion(t, v)) {
				t.Errorf("%q should allow %s", tt.in, v)
			}
		}
		for _, v := range tt.deny {
			if d.Allows(mustVersion(t, v)) {
				t.Errorf("%q should not allow %s", tt.in, v)
			}
		}
	}
}

func TestAllowsWithoutConstraint(t *testing.T) {
	d := Dependency{Name: "foo"}
	for v, want := range map[string]bool{
		"0.0.1": true, "1.0.0": true, "1.0.0+build": true,
		"1.0.0-rc.1": false, "2.0.0-alpha": false,
	} {
		if got := d.Allows(mustVersion(t, v)); got != want {
			t.Errorf("Allows(%s) without constraint = %v, want %v", v, got, want)
		}
	}
	if d.Allows(nil) {
		t.Error("Allows(nil) = true")
	}
}

// TestHolds: the range with pre-releases counted, beside Allows.
func TestHolds(t *testing.T) {
	tests := []struct {
		dep, version  string
		allows, holds bool
	}{
		{"foo >1.0.0, <1.0.1", "1.0.1-0", false, true},
		{"foo >1.0.0, <1.0.1", "1.0.1", false, false},
		{"foo >=1", "2.0.0-rc.1", false, true},
		{"foo >=2", "2.0.0-rc.1", false, false}, // below 2.0.0
		{"foo", "2.0.0-rc.1", false, true},
		{"foo >=2.0.0-rc.0", "2.0.0-rc.1", true, true},
		{"foo@1.0.0+b", "1.0.0+a", false, false}, // a request for another build
	}
	for _, tt := range tests {
		parse := ParseDependency
		if strings.Contains(tt.dep, "@") {
			parse = ParseRequest
		}
		d, err := parse(tt.dep)
		if err != nil {
			t.Fatalf("%s: %v", tt.dep, err)
		}
		v := mustVersion(t, tt.version)
		if got := d.Allows(v); got != tt.allows {
			t.Errorf("%s Allows(%s) = %v, want %v", tt.dep, tt.version, got, tt.allows)
		}
		if got := d.Holds(v); got != tt.holds {
			t.Errorf("%s Holds(%s) = %v, want %v", tt.dep, tt.version, got, tt.holds)
		}
	}
	if (Dependency{Name: "foo"}).Holds(nil) {
		t.Error("Holds(nil) = true")
	}
}

func TestParseDependency(t *testing.T) {
	tests := []struct {
		in       string
		wantName string
		wantRaw  string
		wantStr  string
		wantErr  string
	}{
		{in: "libbar", wantName: "libbar", wantStr: "libbar"},
		{in: "  libbar  ", wantName: "libbar", wantStr: "libbar"},
		{in: "libbar ^1.4", wantName: "libbar", wantRaw: "^1.4", wantStr: "libbar ^1.4"},
		{in: "libfoo >=1.2, <2", wantName: "libfoo", wantRaw: ">=1.2, <2", wantStr: "libfoo >=1.2, <2"},
		{in: "libfoo   >=1.2,\n  <2", wantName: "libfoo", wantRaw: ">=1.2, <2", wantStr: "libfoo >=1.2, <2"},
		{in: "libfoo>=1.2", wantName: "libfoo", wantRaw: ">=1.2", wantStr: "libfoo >=1.2"},
		{in: "libfoo^1", wantName: "libfoo", wantRaw: "^1", wantStr: "libfoo ^1"},
		{in: "libfoo 1.2.3", wantName: "libfoo", wantRaw: "1.2.3", wantStr: "libfoo 1.2.3"},
		{in: "gtk+ ~3.24", wantName: "gtk+", wantRaw: "~3.24", wantStr: "gtk+ ~3.24"},
		{in: "Foo *", wantName: "Foo", wantRaw: "*", wantStr: "Foo *"},

		{in: "", wantErr: "dependency is empty"},
		{in: " \t", wantErr: "dependency is empty"},
		{in: ">=1.2", wantErr: `dependency ">=1.2": missing package name`},
		{in: "<2", wantErr: "missing package name"},
		{in: "lib/foo", wantErr: `dependency "lib/foo": name "lib/foo" contains "/"`},
		{in: "-foo", wantErr: `must not start with "-"`},
		{in: "libfoo latest", wantErr: `dependency "libfoo latest": invalid constraint "latest"`},
		{in: "libfoo >=1.2,", wantErr: "invalid constraint"},
		{in: "libfoo@1.2.3", wantErr: `contains "@"`},
	}
	for _, tt := range tests {
		d, err := ParseDependency(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseDependency(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDependency(%q) = %v", tt.in, err)
			continue
		}
		if d.Name != tt.wantName || d.Raw != tt.wantRaw || d.String() != tt.wantStr {
			t.Errorf("ParseDependency(%q) = {%q, %q, %q}, want {%q, %q, %q}",
				tt.in, d.Name, d.Raw, d.String(), tt.wantName, tt.wantRaw, tt.wantStr)
		}
		if (d.Constraint == nil) != (d.Raw == "") {
			t.Errorf("ParseDependency(%q): Constraint %v does not match Raw %q", tt.in, d.Constraint, d.Raw)
		}
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		in        string
		wantName  string
		wantRaw   string
		wantBuild string
		allow     []string
		deny      []string
		wantErr   string
	}{
		{in: "foo", wantName: "foo", allow: []string{"1.0.0"}, deny: []string{"1.0.0-rc.1"}},
		{in: " foo ", wantName: "foo"},
		{in: "foo@1.2.3", wantName: "foo", wantRaw: "=1.2.3", allow: []string{"1.2.3"}, deny: []string{"1.2.4", "1.2.2"}},
		{in: "foo@2.0.0-rc.1", wantName: "foo", wantRaw: "=2.0.0-rc.1", allow: []string{"2.0.0-rc.1"}, deny: []string{"2.0.0"}},
		{in: "foo@>=1.2, <2", wantName: "foo", wantRaw: ">=1.2, <2", allow: []string{"1.5.0"}, deny: []string{"2.0.0"}},
		{in: "foo@^1", wantName: "foo", wantRaw: "^1", allow: []string{"1.9.0"}, deny: []string{"2.0.0"}},
		{in: "foo@~1.2", wantName: "foo", wantRaw: "~1.2", allow: []string{"1.2.5"}, deny: []string{"1.3.0"}},
		{in: "foo@1.2", wantName: "foo", wantRaw: "1.2", allow: []string{"1.2.7"}, deny: []string{"1.3.0"}},
		{in: "foo@=1.2.3", wantName: "foo", wantRaw: "=1.2.3"},
		// Precedence ignores build metadata: without any in the request,
		// every build of the version matches, as before.
		{in: "foo@1.0.0", wantName: "foo", wantRaw: "=1.0.0", allow: []string{"1.0.0", "1.0.0+a"}},
		// An exact request that names build metadata means that build.
		{in: "foo@1.0.0+b", wantName: "foo", wantRaw: "=1.0.0+b", wantBuild: "b", allow: []string{"1.0.0+b"}, deny: []string{"1.0.0", "1.0.0+a", "1.0.1+b"}},
		{in: "foo@= 1.0.0+b", wantName: "foo", wantRaw: "=1.0.0+b", wantBuild: "b", allow: []string{"1.0.0+b"}, deny: []string{"1.0.0"}},
		{in: "foo@2.0.0-rc.1+build.5", wantName: "foo", wantRaw: "=2.0.0-rc.1+build.5", wantBuild: "build.5", allow: []string{"2.0.0-rc.1+build.5"}, deny: []string{"2.0.0-rc.1", "2.0.0-rc.1+build.6"}},
		// A range is not an exact request: its metadata orders nothing.
		{in: "foo@>=1.0.0+b", wantName: "foo", wantRaw: ">=1.0.0+b", allow: []string{"1.0.0", "1.0.0+a", "1.1.0"}},

		{in: "", wantErr: "missing package name"},
		{in: "@1.2.3", wantErr: `request "@1.2.3": missing package name`},
		{in: "foo@", wantErr: `request "foo@": missing version or constraint after "@" (e.g. foo@1.2.3 or foo@^1.2)`},
		{in: "foo@  ", wantErr: `missing version or constraint`},
		{in: "foo@latest", wantErr: `request "foo@latest": invalid constraint "latest"`},
		{in: "foo@1@2", wantErr: "invalid constraint"},
		{in: "foo bar", wantErr: `request "foo bar": name "foo bar" contains whitespace`},
		{in: "foo>=1.2", wantErr: `contains ">" (allowed: ASCII letters, digits and . _ + -) (write foo@>=1.2)`},
		{in: "foo >=1.2", wantErr: `(write foo@>=1.2)`},
		{in: "a/b@1.0.0", wantErr: `contains "/"`},
	}
	for _, tt := range tests {
		d, err := ParseRequest(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseRequest(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseRequest(%q) = %v", tt.in, err)
			continue
		}
		if d.Name != tt.wantName || d.Raw != tt.wantRaw || d.Build != tt.wantBuild {
			t.Errorf("ParseRequest(%q) = {%q, %q, build %q}, want {%q, %q, build %q}", tt.in, d.Name, d.Raw, d.Build, tt.wantName, tt.wantRaw, tt.wantBuild)
		}
		for _, v := range tt.allow {
			if !d.Allows(mustVersion(t, v)) {
				t.Errorf("ParseRequest(%q) should allow %s", tt.in, v)
			}
		}
		for _, v := range tt.deny {
			if d.Allows(mustVersion(t, v)) {
				t.Errorf("ParseRequest(%q) should not allow %s", tt.in, v)
			}
		}
	}
	if _, err := ParseRequest("foo bar"); err != nil && strings.Contains(err.Error(), "write") {
		t.Errorf("no hint expected when the rest is not a constraint: %v", err)
	}
}

func TestDependencyStringFromConstraintOnly(t *testing.T) {
	c, err := ParseConstraint(">=1.2")
	if err != nil {
		t.Fatal(err)
	}
	d := Dependency{Name: "foo", Constraint: c}
	back, err := ParseDependency(d.String())
	if err != nil || back.Name != "foo" || !back.Allows(mustVersion(t, "1.3.0")) || back.Allows(mustVersion(t, "1.1.0")) {
		t.Errorf("String() without Raw = %q, parsed back as %+v, %v", d.String(), back, err)
	}
}

func mustVersion(t *testing.T, s string) *semver.Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNeverMet: a constraint that some version, a pre-release included,
// meets is not called a contradiction.
func TestNeverMet(t *testing.T) {
	for _, tt := range []struct {
		c     string
		never bool
	}{
		{">=2, <1", true},
		{">=3, <2.5", true},
		{"=1.2.3, =1.2.4", true},
		{">1.0.0, <1.0.1", false},      // 1.0.1-0
		{">1.2.3, <1.2.4-rc.1", false}, // 1.2.4-0
		{"~1.2.3, !=1.2.3, <1.2.4", false},
		{">=1.0.0-beta, <1.0.0", false},
		{"^1.2", false},
		{"*", false},
	} {
		c, err := semver.NewConstraint(tt.c)
		if err != nil {
			t.Fatalf("%s: %v", tt.c, err)
		}
		if got := NeverMet(c); got != tt.never {
			t.Errorf("NeverMet(%q) = %t, want %t", tt.c, got, tt.never)
		}
	}
}

// A constraint parsed once is not parsed again: a catalog says the same
// few again and again, and an install of 300 packages each depending on
// up to 256 others spent 58 % of its CPU in the library's parser (24
// allocations a parse). The shared constraint is not changed by a
// caller that relaxes a copy of it (Holds).
func TestParseConstraintOnce(t *testing.T) {
	for _, s := range []string{">=1.0.0, <2", "^1.4", "~1.2", ">=1 || <0.5"} {
		first, err := ParseConstraint(s)
		if err != nil {
			t.Fatal(err)
		}
		if allocs := testing.AllocsPerRun(50, func() { ParseConstraint(s) }); allocs > 2 {
			t.Errorf("ParseConstraint(%q) again: %v allocations; want at most 2 (the text's spacing)", s, allocs)
		}
		if again, _ := ParseConstraint(s); again.String() != first.String() {
			t.Errorf("ParseConstraint(%q) again = %s, first %s", s, again, first)
		}
	}
	d, err := ParseDependency("libfoo >=1.0.0, <2")
	if err != nil {
		t.Fatal(err)
	}
	pre := semver.MustParse("1.5.0-rc.1")
	if !d.Holds(pre) {
		t.Fatal("Holds refuses a pre-release in range")
	}
	if c, _ := ParseConstraint(">=1.0.0, <2"); c.Check(pre) || c.IncludePrerelease {
		t.Error("the shared constraint admits pre-releases after Holds relaxed a copy of it")
	}
}
