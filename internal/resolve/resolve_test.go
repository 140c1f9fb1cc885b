package resolve

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestResolvePlans(t *testing.T) {
	tests := []struct {
		name string
		cat  catalog
		req  Request
		want []string
	}{
		{
			name: "newest pick",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 1.2.0"), pv("app 1.10.0"), pv("app 0.9.0")),
			req:  reqOf("app"),
			want: []string{"install app 1.10.0"},
		},
		{
			name: "exact pin",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 1.2.0"), pv("app 2.0.0")),
			req:  reqOf("app =1.2.0"),
			want: []string{"install app 1.2.0"},
		},
		{
			name: "range",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 1.5.0"), pv("app 2.0.0"), pv("app 2.5.0")),
			req:  reqOf("app >=1.2, <2.1"),
			want: []string{"install app 2.0.0"},
		},
		{
			name: "prerelease not chosen by default",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 2.0.0-rc.1")),
			req:  reqOf("app"),
			want: []string{"install app 1.0.0"},
		},
		{
			name: "prerelease when the constraint names one",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 2.0.0-rc.1")),
			req:  reqOf("app >=2.0.0-rc.0"),
			want: []string{"install app 2.0.0-rc.1"},
		},
		{
			name: "chain of depth 4, dependencies first",
			cat: mkCatalog(pv("a 1.0.0", "b ^1"), pv("b 1.0.0", "c ^1"), pv("b 1.1.0", "c ^1"),
				pv("c 1.0.0", "d >=2"), pv("d 1.0.0"), pv("d 2.0.0"), pv("d 2.1.0")),
			req:  reqOf("a"),
			want: []string{"install d 2.1.0 auto", "install c 1.0.0 auto", "install b 1.1.0 auto", "install a 1.0.0"},
		},
		{
			name: "diamond settles on a shared version",
			cat: mkCatalog(pv("app 1.0.0", "left ^1", "right ^1"), pv("left 1.0.0", "base >=1.1"), pv("right 1.0.0", "base <1.3"),
				pv("base 1.0.0"), pv("base 1.1.0"), pv("base 1.2.0"), pv("base 1.3.0")),
			req:  reqOf("app"),
			want: []string{"install base 1.2.0 auto", "install left 1.0.0 auto", "install right 1.0.0 auto", "install app 1.0.0"},
		},
		{
			name: "backtracking to an older version",
			cat: mkCatalog(pv("app 1.0.0", "lib ^1"), pv("app 2.0.0", "lib ^2"), pv("app 2.1.0", "lib ^2"),
				pv("lib 1.0.0"), pv("lib 2.0.0", "gone"), pv("lib 2.1.0", "gone")),
			req:  reqOf("app"),
			want: []string{"install lib 1.0.0 auto", "install app 1.0.0"},
		},
		{
			name: "backtracking across a shared dependency",
			cat: mkCatalog(pv("app 1.0.0", "x", "y"), pv("x 2.0.0", "z ^2"), pv("x 1.0.0", "z ^1"),
				pv("y 1.0.0", "z ^1"), pv("z 1.0.0"), pv("z 2.0.0")),
			req:  reqOf("app"),
			want: []string{"install z 1.0.0 auto", "install x 1.0.0 auto", "install y 1.0.0 auto", "install app 1.0.0"},
		},
		{
			name: "conflict avoided by an older version",
			cat:  mkCatalog(pv("app 2.0.0", "!tool"), pv("app 1.0.0"), pv("tool 1.0.0")),
			req:  reqOf("app", "tool"),
			want: []string{"install app 1.0.0", "install tool 1.0.0"},
		},
		{
			name: "installed request already satisfied",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 2.0.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("app 1.0.0")},
			want: nil,
		},
		{
			name: "installed request not satisfied moves",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 2.0.0")),
			req:  Request{Deps: reqOf("app ^2").Deps, Installed: inst("app 1.0.0 auto")},
			want: []string{"upgrade app 1.0.0->2.0.0"},
		},
		{
			name: "installed dependency stays pinned",
			cat:  mkCatalog(pv("app 1.0.0", "lib >=1"), pv("lib 1.0.0"), pv("lib 1.5.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("lib 1.0.0 auto")},
			want: []string{"install app 1.0.0"},
		},
		{
			name: "installed dependency upgraded when named",
			cat:  mkCatalog(pv("app 1.0.0", "lib >=1"), pv("lib 1.0.0"), pv("lib 1.5.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("lib 1.0.0 auto"), Upgrade: map[string]bool{"lib": true}},
			want: []string{"upgrade lib 1.0.0->1.5.0 auto", "install app 1.0.0"},
		},
		{
			name: "upgrade all held back by a pinned-free dependent constraint",
			cat: mkCatalog(pv("app 1.0.0", "lib ^1"), pv("app 1.1.0", "lib ^1"), pv("lib 1.0.0"), pv("lib 1.5.0"),
				pv("lib 2.0.0")),
			req:  Request{Installed: inst("app 1.0.0", "lib 1.0.0 auto"), UpgradeAll: true},
			want: []string{"upgrade lib 1.0.0->1.5.0 auto", "upgrade app 1.0.0->1.1.0"},
		},
		{
			name: "upgrade keeps versions an installed dependent needs",
			cat:  mkCatalog(pv("app 1.0.0", "lib ^1"), pv("lib 1.0.0"), pv("lib 2.0.0")),
			req:  Request{Installed: inst("app 1.0.0", "lib 1.0.0 auto"), Upgrade: map[string]bool{"lib": true}},
			want: nil,
		},
		{
			name: "upgrade all skips a newer prerelease",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 1.2.0"), pv("app 2.0.0-rc.1")),
			req:  Request{Installed: inst("app 1.0.0"), UpgradeAll: true},
			want: []string{"upgrade app 1.0.0->1.2.0"},
		},
		{
			name: "upgrade from a prerelease may take a newer one",
			cat:  mkCatalog(pv("app 1.0.0"), pv("app 2.0.0-rc.1"), pv("app 2.0.0-rc.2")),
			req:  Request{Installed: inst("app 2.0.0-rc.1"), Upgrade: map[string]bool{"app": true}},
			want: []string{"upgrade app 2.0.0-rc.1->2.0.0-rc.2"},
		},
		{
			name: "installed prerelease stays valid",
			cat:  mkCatalog(pv("app 1.0.0", "lib >=1"), pv("lib 1.0.0"), pv("lib 2.0.0-rc.1")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("lib 2.0.0-rc.1")},
			want: []string{"install app 1.0.0"},
		},
		{
			// One command as two (install lib@2.0.0-rc.1, then app): a
			// pre-release the user names exactly is matched as an
			// installed one is.
			name: "prerelease asked for exactly, beside a dependent",
			cat:  mkCatalog(pv("app 1.0.0", "lib >=1"), pv("lib 1.0.0"), pv("lib 2.0.0-rc.1")),
			req:  Request{Deps: []Dep{mustDep("app"), buildDep("lib", "2.0.0-rc.1")}},
			want: []string{"install lib 2.0.0-rc.1", "install app 1.0.0"},
		},
		{
			name: "prerelease asked for exactly, inside a dependent's range",
			cat:  mkCatalog(pv("r1 1.0.0", "lib >1.0.0, <1.0.1"), pv("lib 1.0.0"), pv("lib 1.0.1-0"), pv("lib 1.0.1")),
			req:  Request{Deps: []Dep{mustDep("r1"), buildDep("lib", "1.0.1-0")}},
			want: []string{"install lib 1.0.1-0", "install r1 1.0.0"},
		},
		{
			name: "installed version missing from the catalog is kept",
			cat:  mkCatalog(pv("app 1.0.0", "lib ^1"), pv("lib 1.1.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("lib 1.0.5")},
			want: []string{"install app 1.0.0"},
		},
		{
			name: "cycle between two packages",
			cat:  mkCatalog(pv("b 1.0.0", "a ^1"), pv("a 1.0.0", "b ^1")),
			req:  reqOf("b"),
			want: []string{"install a 1.0.0 auto", "install b 1.0.0"},
		},
		{
			name: "cycle ordered after its dependency",
			cat:  mkCatalog(pv("x 1.0.0", "y"), pv("y 1.0.0", "x", "base"), pv("base 1.0.0")),
			req:  reqOf("x"),
			want: []string{"install base 1.0.0 auto", "install x 1.0.0", "install y 1.0.0 auto"},
		},
		{
			name: "self dependency skipped for an older version",
			cat:  mkCatalog(pv("app 2.0.0", "app"), pv("app 1.0.0")),
			req:  reqOf("app"),
			want: []string{"install app 1.0.0"},
		},
		{
			name: "free installed packages move only when needed, then to the newest",
			cat: mkCatalog(pv("app 2.0.0", "libfoo ^2", "libbar ^1"), pv("libfoo 1.1.0"), pv("libfoo 2.0.0"), pv("libfoo 2.1.0"),
				pv("libbar 1.0.0"), pv("libbar 1.5.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("libfoo 1.1.0 auto", "libbar 1.0.0 auto"), Free: map[string]bool{"libfoo": true, "libbar": true}},
			want: []string{"upgrade libfoo 1.1.0->2.1.0 auto", "install app 2.0.0"},
		},
		{
			name: "order through an unchanged package",
			cat:  mkCatalog(pv("a 1.0.0", "k"), pv("k 1.0.0", "z"), pv("z 1.0.0")),
			req:  Request{Deps: reqOf("a", "z").Deps, Installed: inst("k 1.0.0")},
			want: []string{"install z 1.0.0", "install a 1.0.0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustResolve(t, tt.cat, tt.req)
			if !slices.Equal(got, tt.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tt.want)
			}
			p, _ := Resolve(tt.cat, tt.req)
			if err := checkPlan(tt.cat, tt.req, p); err != nil {
				t.Errorf("checkPlan: %v", err)
			}
		})
	}
}

// foldCatalog is a Source that finds names ignoring case, as the client's
// catalog does.
type foldCatalog catalog

func (c foldCatalog) Versions(name string) []Candidate {
	for n, cs := range c {
		if strings.EqualFold(n, name) {
			return cs
		}
	}
	return nil
}

// TestResolveNamesIgnoreCase: names are unique ignoring case, so a request
// spelled otherwise names the installed package, or the catalog's. Before,
// `install Hello` with hello installed planned a second hello.
func TestResolveNamesIgnoreCase(t *testing.T) {
	cat := foldCatalog(mkCatalog(pv("hello 1.0.0"), pv("hello 1.1.0"), pv("Greet 2.0.0"), pv("app 1.0.0", "HELLO ^1", "greet")))
	tests := []struct {
		name string
		req  Request
		want []string
	}{
		{"installed, asked in capitals", Request{Deps: reqOf("Hello").Deps, Installed: inst("hello 1.1.0")}, nil},
		{"installed, asked for another version", Request{Deps: reqOf("HELLO =1.0.0").Deps, Installed: inst("hello 1.1.0")}, []string{"downgrade hello 1.1.0->1.0.0"}},
		{"not installed: the catalog's spelling", reqOf("greet"), []string{"install Greet 2.0.0"}},
		{"two spellings of one name are one request", reqOf("hello", "HeLLo"), []string{"install hello 1.1.0"}},
		{"a dependency spelled otherwise", Request{Deps: reqOf("app").Deps, Installed: inst("hello 1.0.0")}, []string{"install Greet 2.0.0 auto", "install app 1.0.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Resolve(cat, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmtPlan(p); !slices.Equal(got, tt.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestResolveBuilds: an old catalog may hold versions that differ only in
// build metadata (1.0.0, 1.0.0+a, 1.0.0+b: dist-server add refuses them
// now). SemVer precedence makes them one version, so the solver keeps one
// of them; a request that names a build must get that build, and the
// others keep today's choice (the first of the catalog's order).
func TestResolveBuilds(t *testing.T) {
	variants := mkCatalog(pv("bm 1.0.0", "lib ^1"), pv("bm 1.0.0+a", "lib ^1"), pv("bm 1.0.0+b", "lib ^2"), pv("bm 0.9.0"),
		pv("lib 1.0.0"), pv("lib 2.0.0"))
	reversed := mkCatalog(pv("bm 1.0.0+b", "lib ^2"), pv("bm 1.0.0+a", "lib ^1"), pv("bm 1.0.0", "lib ^1"),
		pv("lib 1.0.0"), pv("lib 2.0.0"))
	tests := []struct {
		name string
		cat  catalog
		req  Request
		want []string
		err  string // the explanation, when it fails
	}{
		{name: "exact build", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "1.0.0+b")}},
			want: []string{"install lib 2.0.0 auto", "install bm 1.0.0+b"}},
		{name: "another exact build", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "1.0.0+a")}},
			want: []string{"install lib 1.0.0 auto", "install bm 1.0.0+a"}},
		{name: "exact build whatever the source's order", cat: reversed, req: Request{Deps: []Dep{buildDep("bm", "1.0.0+b")}},
			want: []string{"install lib 2.0.0 auto", "install bm 1.0.0+b"}},
		{name: "exact version without build: the first, as before", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "1.0.0")}},
			want: []string{"install lib 1.0.0 auto", "install bm 1.0.0"}},
		{name: "bare name: the first, as before", cat: variants, req: reqOf("bm"),
			want: []string{"install lib 1.0.0 auto", "install bm 1.0.0"}},
		{name: "a range ignores build metadata, as before", cat: variants, req: reqOf("bm >=1.0.0+b"),
			want: []string{"install lib 1.0.0 auto", "install bm 1.0.0"}},
		{name: "installed build of another is replaced", cat: variants,
			req:  Request{Deps: []Dep{buildDep("bm", "1.0.0+b")}, Installed: inst("bm 1.0.0", "lib 2.0.0 auto")},
			want: []string{"replace bm 1.0.0->1.0.0+b"}},
		{name: "installed build asked for again stays", cat: variants,
			req: Request{Deps: []Dep{buildDep("bm", "1.0.0+b")}, Installed: inst("bm 1.0.0+b", "lib 2.0.0 auto")}},
		{name: "installed build the catalog dropped, asked for, stays", cat: variants,
			req: Request{Deps: []Dep{buildDep("bm", "1.0.0+x")}, Installed: inst("bm 1.0.0+x", "lib 1.0.0 auto")}},
		{name: "installed build kept by a request without build, as before", cat: variants,
			req: Request{Deps: []Dep{buildDep("bm", "1.0.0")}, Installed: inst("bm 1.0.0+a", "lib 1.0.0 auto")}},
		{name: "upgrade leaves an installed build alone, as before", cat: variants,
			req: Request{Installed: inst("bm 1.0.0+a", "lib 1.0.0 auto"), UpgradeAll: true}},
		{name: "no such build", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "1.0.0+c")}},
			err: "cannot install bm: no version of bm is exactly 1.0.0+c (build metadata must match; there are 1.0.0, 1.0.0+a and 1.0.0+b)"},
		{name: "no such version at all", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "3.0.0+b")}},
			err: "cannot install bm: no version 3.0.0+b of bm (available: 0.9.0, 1.0.0, 1.0.0+a, 1.0.0+b)"},
		{name: "two builds of one version", cat: variants, req: Request{Deps: []Dep{buildDep("bm", "1.0.0+a"), buildDep("bm", "1.0.0+b")}},
			err: "cannot install bm: you asked for bm =1.0.0+a, you asked for bm =1.0.0+b, and no version of bm satisfies both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Resolve(tt.cat, tt.req)
			if tt.err != "" {
				if err == nil {
					t.Fatalf("Resolve = %q, want error %s", fmtPlan(p), tt.err)
				}
				if err.Error() != tt.err {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if got := fmtPlan(p); !slices.Equal(got, tt.want) {
				t.Errorf("plan:\n got %q\nwant %q", got, tt.want)
			}
			if err := checkPlan(tt.cat, tt.req, p); err != nil {
				t.Errorf("checkPlan: %v", err)
			}
		})
	}
}

func TestResolveExplanations(t *testing.T) {
	tests := []struct {
		name string
		cat  catalog
		req  Request
		want string
		// unmatched is Explanation.Unmatched: the package none of whose
		// versions meets a constraint, when that alone is why.
		unmatched string
	}{
		{
			name:      "no version matches",
			cat:       mkCatalog(pv("app 1.0.0", "libfoo >=2"), pv("libfoo 1.0.0"), pv("libfoo 1.5.0")),
			req:       reqOf("app"),
			want:      "cannot install app: app 1.0.0 depends on libfoo >=2, but no version of libfoo matches >=2 (available: 1.0.0, 1.5.0)",
			unmatched: "libfoo",
		},
		{
			name:      "every version summarised",
			cat:       mkCatalog(pv("app 1.0.0", "libfoo >=2"), pv("app 1.1.0", "libfoo >=2"), pv("libfoo 1.0.0"), pv("libfoo 1.5.0")),
			req:       reqOf("app"),
			want:      "cannot install app: every version of app (1.0.0, 1.1.0) depends on libfoo >=2, but no version of libfoo matches >=2 (available: 1.0.0, 1.5.0)",
			unmatched: "libfoo",
		},
		{
			name: "different reasons per version",
			cat:  mkCatalog(pv("app 1.0.0", "libfoo >=2"), pv("app 1.1.0", "libbar"), pv("libfoo 1.0.0")),
			req:  reqOf("app"),
			want: `cannot install app: no package named "libbar" (needed by app 1.1.0); app 1.0.0 depends on libfoo >=2, but no version of libfoo matches >=2 (available: 1.0.0)`,
		},
		{
			name: "two dependents disagree",
			cat: mkCatalog(pv("app 1.0.0", "libfoo ^1"), pv("tool 2.0.0", "libfoo ^2"),
				pv("libfoo 1.0.0"), pv("libfoo 2.0.0")),
			req:  reqOf("app", "tool"),
			want: "cannot install app and tool: app 1.0.0 depends on libfoo ^1, tool 2.0.0 depends on libfoo ^2, and no version of libfoo satisfies both",
		},
		{
			name: "missing package",
			cat:  mkCatalog(pv("app 1.0.0", "libzz")),
			req:  reqOf("app"),
			want: `cannot install app: no package named "libzz" (needed by app 1.0.0)`,
		},
		{
			name: "missing requested package",
			cat:  mkCatalog(),
			req:  reqOf("app"),
			want: `cannot install app: no package named "app"`,
		},
		{
			name:      "request matches nothing",
			cat:       mkCatalog(pv("app 1.0.0")),
			req:       reqOf("app >=5"),
			want:      "cannot install app: no version of app matches >=5 (available: 1.0.0)",
			unmatched: "app",
		},
		{
			// A request for one version (hello@1.6.0 is "=1.6.0") says the
			// version as it was typed, not the constraint it became.
			name:      "requested version not in the catalog",
			cat:       mkCatalog(pv("app 1.0.0"), pv("app 2.0.0")),
			req:       reqOf("app =1.6.0"),
			want:      "cannot install app: no version 1.6.0 of app (available: 1.0.0, 2.0.0)",
			unmatched: "app",
		},
		{
			name:      "dependency on one version not in the catalog",
			cat:       mkCatalog(pv("app 1.0.0", "libfoo =3.0.0"), pv("libfoo 1.0.0")),
			req:       reqOf("app"),
			want:      "cannot install app: app 1.0.0 depends on libfoo =3.0.0, but no version of libfoo matches =3.0.0 (available: 1.0.0)",
			unmatched: "libfoo",
		},
		{
			// No publication can meet it: no hint to sync.
			name: "request that can never match",
			cat:  mkCatalog(pv("app 1.0.0")),
			req:  reqOf("app >=3, <2"),
			want: "cannot install app: no version of app can ever match >=3, <2: the constraint contradicts itself",
		},
		{
			name: "only prereleases",
			cat:  mkCatalog(pv("app 1.0.0", "libfoo"), pv("libfoo 1.0.0-rc.1")),
			req:  reqOf("app"),
			want: "cannot install app: app 1.0.0 depends on libfoo, but libfoo has no stable version (available: 1.0.0-rc.1)",
		},
		{
			name: "conflict with an installed package",
			cat:  mkCatalog(pv("app 1.0.0", "!tool"), pv("tool 1.2.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("tool 1.2.0")},
			want: "cannot install app: app 1.0.0 conflicts with tool (installed 1.2.0)",
		},
		{
			name: "installed package conflicts with the request",
			cat:  mkCatalog(pv("app 1.0.0"), pv("tool 1.2.0", "!app")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("tool 1.2.0")},
			want: "cannot install app: installed tool 1.2.0 conflicts with app",
		},
		{
			name: "conflict between requested packages",
			cat:  mkCatalog(pv("app 1.0.0", "!tool"), pv("tool 1.0.0")),
			req:  reqOf("app", "tool"),
			want: "cannot install app and tool: app 1.0.0 conflicts with tool",
		},
		{
			name: "dependency held by a pinned installed version",
			cat:  mkCatalog(pv("app 1.0.0", "libfoo ^2"), pv("libfoo 1.5.0"), pv("libfoo 2.0.0")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("libfoo 1.5.0")},
			want: "cannot install app: app 1.0.0 depends on libfoo ^2, but libfoo 1.5.0 is installed and is not being upgraded",
		},
		{
			// Upgrading libfoo would not help: say that no version
			// matches, as a fresh client is told (a newcomer's run read
			// "is installed and is not being upgraded" and looked for a
			// newer libfoo).
			name:      "dependency no version meets, an older one installed",
			cat:       mkCatalog(pv("app 1.0.0", "libfoo ^2"), pv("libfoo 1.5.0")),
			req:       Request{Deps: reqOf("app").Deps, Installed: inst("libfoo 1.5.0")},
			want:      "cannot install app: app 1.0.0 depends on libfoo ^2, but no version of libfoo matches ^2 (available: 1.5.0)",
			unmatched: "libfoo",
		},
		{
			// The same, free to move ("was selected" before).
			name:      "dependency no version meets, an older one upgradable",
			cat:       mkCatalog(pv("app 1.0.0", "libfoo ^2"), pv("libfoo 1.5.0")),
			req:       Request{Deps: reqOf("app").Deps, Installed: inst("libfoo 1.5.0"), UpgradeAll: true},
			want:      "cannot install app: app 1.0.0 depends on libfoo ^2, but no version of libfoo matches ^2 (available: 1.5.0)",
			unmatched: "libfoo",
		},
		{
			name: "dependency excluded by an installed conflict",
			cat:  mkCatalog(pv("app 1.0.0", "libfoo ^1"), pv("libfoo 1.0.0"), pv("tool 1.2.0", "!libfoo")),
			req:  Request{Deps: reqOf("app").Deps, Installed: inst("tool 1.2.0")},
			want: "cannot install app: app 1.0.0 depends on libfoo ^1, but installed tool 1.2.0 conflicts with libfoo",
		},
		{
			name: "self dependency",
			cat:  mkCatalog(pv("app 1.0.0", "app")),
			req:  reqOf("app"),
			want: "cannot install app: app 1.0.0 depends on itself",
		},
		{
			name: "chain down to a missing package",
			cat:  mkCatalog(pv("app 1.0.0", "lib ^1"), pv("lib 1.0.0", "libzz"), pv("lib 1.1.0", "libzz")),
			req:  reqOf("app"),
			want: `cannot install app: no package named "libzz" (needed by every version of lib (1.0.0, 1.1.0))`,
		},
		{
			name: "upgrade with nothing requested",
			cat:  mkCatalog(pv("app 1.0.0", "lib ^1"), pv("app 2.0.0", "lib ^9"), pv("lib 1.0.0")),
			req:  Request{Installed: inst("app 1.0.0", "lib 1.0.0"), Upgrade: map[string]bool{"app": true}},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Resolve(tt.cat, tt.req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			var ex *Explanation
			if !errors.As(err, &ex) {
				t.Fatalf("Resolve = %v, %v; want *Explanation", fmtPlan(p), err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			// Missing names the package when that alone is the cause.
			wantMissing := ""
			if rest, ok := strings.CutPrefix(ex.Cause, `no package named "`); ok && !strings.Contains(ex.Cause, ";") {
				wantMissing, _, _ = strings.Cut(rest, `"`)
			}
			if ex.Missing != wantMissing {
				t.Errorf("Missing = %q, want %q", ex.Missing, wantMissing)
			}
			if ex.Unmatched != tt.unmatched {
				t.Errorf("Unmatched = %q, want %q", ex.Unmatched, tt.unmatched)
			}
		})
	}
}

func TestResolveUpgradeFailureHeader(t *testing.T) {
	cat := mkCatalog(pv("app 1.0.0"), pv("tool 1.0.0", "lib ^1"), pv("lib 2.0.0"))
	_, err := Resolve(cat, Request{Installed: inst("app 1.0.0", "tool 1.0.0")})
	want := `cannot keep the installed packages: installed tool 1.0.0 depends on lib ^1, but no version of lib matches ^1 (available: 2.0.0)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	_, err = Resolve(cat, Request{Installed: inst("app 1.0.0", "tool 1.0.0"), Upgrade: map[string]bool{"tool": true}})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot upgrade tool: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestResolveTooComplex(t *testing.T) {
	// Every version of x needs a different version of y, which all fail
	// late: with a cap of 3 steps the search must give up.
	// (Each y needs another missing package: were it one, every y would
	// need it and the search would know at once.)
	cat := mkCatalog(pv("x 1.0.0", "y =1.0.0"), pv("x 1.1.0", "y =1.1.0"), pv("x 1.2.0", "y =1.2.0"),
		pv("y 1.0.0", "gone0"), pv("y 1.1.0", "gone1"), pv("y 1.2.0", "gone2"))
	req := reqOf("x")
	req.MaxSteps = 3
	_, err := Resolve(cat, req)
	if !errors.Is(err, ErrTooComplex) {
		t.Fatalf("err = %v, want ErrTooComplex", err)
	}
}

func TestResolveBadInput(t *testing.T) {
	if _, err := Resolve(mkCatalog(), Request{Deps: []Dep{{}}}); err == nil || !strings.Contains(err.Error(), "request 1: empty package name") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Resolve(mkCatalog(), Request{Installed: []Installed{{Name: "x"}}}); err == nil || !strings.Contains(err.Error(), "installed package 1") {
		t.Fatalf("err = %v", err)
	}
	_, err := Resolve(mkCatalog(), Request{Installed: inst("x 1.0.0", "x 2.0.0")})
	if err == nil || err.Error() != "resolve: installed package x listed twice (1.0.0 and 2.0.0)" {
		t.Fatalf("err = %v", err)
	}
}

// TestPrereleaseRangeAsked: a requested range that names a pre-release
// opts into pre-releases for the request only, not for the constraints of
// what depends on the package (only an exact pre-release is matched as an
// installed version is).
func TestPrereleaseRangeAsked(t *testing.T) {
	cat := mkCatalog(pv("app 1.0.0", "lib >=1, <2"), pv("lib 1.0.0"), pv("lib 2.0.0-rc.1"))
	_, err := Resolve(cat, Request{Deps: []Dep{mustDep("app"), mustDep("lib >=2.0.0-rc.0")}})
	var e *Explanation
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an explanation", err)
	}
}
