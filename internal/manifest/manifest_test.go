package manifest

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
)

const fullManifest = `# a comment
name: foo
version: 1.2.3-rc.1+build.7
description: |
  Foo does things.
  Over two lines.
license: MIT
homepage: https://example.org/foo
depends:
  - libbar
  - "libfoo >=1.2, <2"
  - libbaz ^1.4
conflicts:
  - oldfoo
  - foo-legacy <2
`

func TestParseFull(t *testing.T) {
	m, err := Parse([]byte(fullManifest), "pkgs/foo/manifest.yaml", "whatever")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "foo" || m.Version.String() != "1.2.3-rc.1+build.7" || m.License != "MIT" ||
		m.Homepage != "https://example.org/foo" || m.Description != "Foo does things.\nOver two lines.\n" {
		t.Errorf("unexpected manifest: %+v", m)
	}
	var deps, conflicts []string
	for _, d := range m.Depends {
		deps = append(deps, d.String())
	}
	for _, d := range m.Conflicts {
		conflicts = append(conflicts, d.String())
	}
	if got := strings.Join(deps, "|"); got != "libbar|libfoo >=1.2, <2|libbaz ^1.4" {
		t.Errorf("depends = %q", got)
	}
	if got := strings.Join(conflicts, "|"); got != "oldfoo|foo-legacy <2" {
		t.Errorf("conflicts = %q", got)
	}
	if !m.Depends[1].Allows(mustVersion(t, "1.5.0")) || m.Depends[1].Allows(mustVersion(t, "2.0.0")) {
		t.Error("libfoo constraint not applied")
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		desc, yaml, dir string
		wantName        string
		wantVersion     string
	}{
		{"minimal with name", "name: foo\nversion: 1.0.0\n", "", "foo", "1.0.0"},
		{"name from dir", "version: 1.0.0\n", "foo", "foo", "1.0.0"},
		{"name from dir with version", "version: 1.2.3\n", "foo-1.2.3", "foo", "1.2.3"},
		{"name from dir with pre-release", "version: 1.0.0-rc.1\n", "foo-1.0.0-rc.1", "foo", "1.0.0-rc.1"},
		{"dir with dash kept", "version: 1.0.0\n", "foo-bar", "foo-bar", "1.0.0"},
		{"null name uses dir", "name:\nversion: 1.0.0\n", "foo", "foo", "1.0.0"},
		{"name beats dir", "name: bar\nversion: 1.0.0\n", "foo-1.0.0", "bar", "1.0.0"},
		{"numeric-looking name", "name: 1.0\nversion: 1.0.0\n", "", "1.0", "1.0.0"},
		{"quoted keys", "\"name\": foo\n'version': '1.0.0'\n", "", "foo", "1.0.0"},
		{"flow mapping", "{name: foo, version: 2.0.0}", "", "foo", "2.0.0"},
		{"explicit document", "---\nname: foo\nversion: 1.0.0\n...\n", "", "foo", "1.0.0"},
		{"null lists", "name: foo\nversion: 1.0.0\ndepends:\nconflicts: ~\n", "", "foo", "1.0.0"},
		{"empty lists", "name: foo\nversion: 1.0.0\ndepends: []\n", "", "foo", "1.0.0"},
		{"flow list quoted", "name: foo\nversion: 1.0.0\ndepends: [a, \"b >=1, <2\"]\n", "", "foo", "1.0.0"},
		{"anchor and alias", "name: foo\nversion: &v 1.0.0\ndescription: *v\n", "", "foo", "1.0.0"},
		{"dep on other case is fine with different name", "name: foo\nversion: 1.0.0\ndepends: [Foo2]\n", "", "foo", "1.0.0"},
		{"same name in depends and conflicts", "name: foo\nversion: 1.0.0\ndepends: [bar]\nconflicts: [bar <1]\n", "", "foo", "1.0.0"},
		{"CRLF line ends", "name: foo\r\nversion: 1.0.0\r\n", "", "foo", "1.0.0"},
		{"a range only a pre-release meets", "name: foo\nversion: 1.0.0\ndepends: [\"lib >1.0.0, <1.0.1\"]\n", "", "foo", "1.0.0"}, // 1.0.1-0
	}
	for _, tt := range tests {
		m, err := Parse([]byte(tt.yaml), "manifest.yaml", tt.dir)
		if err != nil {
			t.Errorf("%s: %v", tt.desc, err)
			continue
		}
		if m.Name != tt.wantName || m.Version.String() != tt.wantVersion {
			t.Errorf("%s: got name %q version %s, want %q %s", tt.desc, m.Name, m.Version, tt.wantName, tt.wantVersion)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const path = "pkgs/foo/manifest.yaml"
	tests := []struct {
		desc, yaml, dir string
		wantField       string // FieldError.Field
		wantMsg         string // substring of the whole message
	}{
		{"empty", "", "foo", "", "manifest is empty"},
		{"description too long", "version: 1.0.0\ndescription: " + strings.Repeat("x", MaxText+1) + "\n", "foo", "description", "is 65537 bytes, at most 65536"},
		{"too many depends", "version: 1.0.0\ndepends: [" + strings.Repeat("a,", MaxDeps) + "a]\n", "foo", "depends", "has 257 entries, at most 256"},
		{"whitespace only", "  \n\n\t\n", "foo", "", "manifest is empty"},
		{"comments only", "# nothing\n  # here\n", "foo", "", "manifest is empty"},
		{"comments and tabs", "\t# nothing\r\n\t\n", "foo", "", "manifest is empty"},
		{"document marker only", "---\n", "foo", "", "manifest is empty"},
		{"null document", "~\n", "foo", "", "manifest is empty"},
		{"bad yaml", "name: foo\nversion: [1.0.0\n", "foo", "", "invalid YAML: line"},
		{"bad indentation", "name: foo\n  version: 1.0.0\n", "foo", "", "invalid YAML: line 2"},
		{"tab indent", "name: foo\n\tversion: 1.0.0\n", "foo", "", "invalid YAML"},
		{"two documents", "version: 1.0.0\n---\nversion: 2.0.0\n", "foo", "", "line 2: a manifest is one YAML document"},
		{"top-level list", "- name: foo\n", "foo", "", "top level must be a mapping"},
		{"top-level scalar", "foo\n", "foo", "", "found a string"},
		{"non-string key", "? [a]\n: b\nversion: 1.0.0\n", "foo", "", "line 1: keys must be strings, found a list"},
		{"unknown key", "version: 1.0.0\ndependz: [a]\n", "foo", "dependz",
			`field "dependz": unknown key (did you mean "depends"? known: name, version, description, license, homepage, depends, conflicts)`},
		{"unknown key, no near miss", "version: 1.0.0\nmaintainer: me\n", "foo", "maintainer",
			`field "maintainer": unknown key (known: name, version, description, license, homepage, depends, conflicts)`},
		{"unknown key case", "Version: 1.0.0\n", "foo", "Version", "unknown key"},
		{"merge key", "version: 1.0.0\n<<: {name: x}\n", "foo", "<<", "unknown key"},
		{"duplicate key", "version: 1.0.0\nname: a\nname: b\n", "foo", "name", "is set twice (lines 2 and 3)"},
		{"missing version", "name: foo\n", "foo", "version", `pkgs/foo/manifest.yaml: field "version": is required`},
		{"null version", "name: foo\nversion:\n", "foo", "version", "is required"},
		{"empty version", "name: foo\nversion: ''\n", "foo", "version", "is required"},
		{"float version", "name: foo\nversion: 1.2\n", "foo", "version",
			`field "version": "1.2" is not a SemVer 2.0.0 version (want MAJOR.MINOR.PATCH, e.g. 1.2.0)`},
		{"v prefix", "name: foo\nversion: v1.2.3\n", "foo", "version", `"v1.2.3" is not a SemVer 2.0.0 version`},
		{"version list", "name: foo\nversion: [1.0.0]\n", "foo", "version", "must be a string, found a list"},
		{"bad name", "name: a b\nversion: 1.0.0\n", "foo", "name", `field "name": name "a b" contains whitespace`},
		{"name slash", "name: a/b\nversion: 1.0.0\n", "foo", "name", `contains "/"`},
		{"name dotdot", "name: ..\nversion: 1.0.0\n", "foo", "name", `".." is not allowed`},
		{"name empty string", "name: ''\nversion: 1.0.0\n", "foo", "name", `is empty`},
		{"name mapping", "name: {a: b}\nversion: 1.0.0\n", "foo", "name", "must be a string, found a mapping"},
		{"name unicode", "name: café\nversion: 1.0.0\n", "foo", "name", `contains "é"`},
		{"no name no dir", "version: 1.0.0\n", "", "name", "is required (no directory name"},
		{"bad dir name", "version: 1.0.0\n", "my package", "name",
			`is absent, and the directory name "my package" is not a valid package name: contains whitespace`},
		{"dot dir", "version: 1.0.0\n", ".", "name", "not a valid package name"},
		{"depends string", "version: 1.0.0\ndepends: libfoo\n", "foo", "depends", `must be a list like [libfoo, "libbar >=1.2, <2"], found a string`},
		{"depends mapping", "version: 1.0.0\ndepends: {libfoo: 1}\n", "foo", "depends", "found a mapping"},
		{"depends item mapping", "version: 1.0.0\ndepends:\n  - libfoo: '>=1'\n", "foo", "depends[0]", "found a mapping"},
		{"depends item null", "version: 1.0.0\ndepends:\n  - a\n  -\n", "foo", "depends[1]", "found nothing (null)"},
		{"depends bad name", "version: 1.0.0\ndepends: [a, b/c]\n", "foo", "depends[1]", `field "depends[1]": dependency "b/c": name "b/c" contains "/"`},
		{"depends bad constraint", "version: 1.0.0\ndepends: [\"a >=latest\"]\n", "foo", "depends[0]", "invalid constraint"},
		{"depends flow comma", "version: 1.0.0\ndepends: [libfoo >=1.2, <2]\n", "foo", "depends[1]", "quote entries that contain one"},
		{"depends self", "name: foo\nversion: 1.0.0\ndepends: [bar, foo >=1]\n", "", "depends[1]", `package "foo" cannot depend on itself`},
		{"depends self other case", "version: 1.0.0\ndepends: [FOO]\n", "foo-1.0.0", "depends[0]", "cannot depend on itself"},
		{"conflicts self", "name: foo\nversion: 1.0.0\nconflicts: [foo]\n", "", "conflicts[0]", `package "foo" cannot conflict with itself`},
		{"depends duplicate", "version: 1.0.0\ndepends: [a, b, A >=1]\n", "foo", "depends[2]", `lists "A" again (already at depends[0])`},
		{"depends contradiction", "version: 1.0.0\ndepends: [a, \"lib >=2, <1\"]\n", "foo", "depends[1]",
			`field "depends[1]": "lib >=2, <1" can never match a version of lib: the constraint contradicts itself`},
		{"depends exact contradiction", "version: 1.0.0\ndepends: [\"lib =1.2.3, =1.2.4\"]\n", "foo", "depends[0]", "contradicts itself"},
		{"conflicts contradiction", "version: 1.0.0\nconflicts: [\"lib >=3, <2.5\"]\n", "foo", "conflicts[0]", "contradicts itself"},
		{"conflicts duplicate", "version: 1.0.0\nconflicts: [a, a]\n", "foo", "conflicts[1]", "again"},
		{"description list", "version: 1.0.0\ndescription: [a]\n", "foo", "description", "must be a string"},
		{"description escape", "version: 1.0.0\ndescription: \"x\\e[2J\"\n", "foo", "description", "contains control character U+001B"},
		{"license control", "version: 1.0.0\nlicense: \"MIT\\r\"\n", "foo", "license", "control character"},
		{"description bidi override", "version: 1.0.0\ndescription: \"safe tool \\u202Egnp.exe\"\n", "foo", "description", "contains bidirectional control U+202E"},
		{"license bidi isolate", "version: 1.0.0\nlicense: \"MIT \\u2066x\"\n", "foo", "license", "bidirectional control U+2066"},
		{"too big", "version: 1.0.0\ndescription: " + strings.Repeat("x", MaxSize) + "\n", "foo", "", "at most 1048576"},
	}
	for _, tt := range tests {
		m, err := Parse([]byte(tt.yaml), path, tt.dir)
		if err == nil {
			t.Errorf("%s: Parse succeeded with %+v", tt.desc, m)
			continue
		}
		var ferr *FieldError
		if !errors.As(err, &ferr) {
			t.Errorf("%s: error %T is not a *FieldError: %v", tt.desc, err, err)
			continue
		}
		if ferr.Path != path || ferr.Field != tt.wantField {
			t.Errorf("%s: error path %q field %q, want %q %q (%v)", tt.desc, ferr.Path, ferr.Field, path, tt.wantField, err)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, path+": ") || !strings.Contains(msg, tt.wantMsg) {
			t.Errorf("%s: error %q, want it to start with the path and contain %q", tt.desc, msg, tt.wantMsg)
		}
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		err  FieldError
		want string
	}{
		{FieldError{Path: "a/manifest.yaml", Field: "version", Msg: "is required"}, `a/manifest.yaml: field "version": is required`},
		{FieldError{Path: "a/manifest.yaml", Msg: "manifest is empty"}, `a/manifest.yaml: manifest is empty`},
		{FieldError{Field: "depends[1]", Msg: "x"}, `field "depends[1]": x`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestParseErrorUnwraps(t *testing.T) {
	_, err := Parse([]byte("name: a b\nversion: 1.0.0\n"), "m.yaml", "")
	var nerr *NameError
	if !errors.As(err, &nerr) || nerr.Name != "a b" {
		t.Errorf("want a *NameError inside %v", err)
	}
	_, err = Parse([]byte("name: a\nversion: 1.2\n"), "m.yaml", "")
	var verr *VersionError
	if !errors.As(err, &verr) || verr.Text != "1.2" {
		t.Errorf("want a *VersionError inside %v", err)
	}
}

func TestMarshalCanonical(t *testing.T) {
	m, err := Parse([]byte(fullManifest), "m.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	const want = `name: foo
version: 1.2.3-rc.1+build.7
description: |
  Foo does things.
  Over two lines.
license: MIT
homepage: https://example.org/foo
depends:
  - libbar
  - libfoo >=1.2, <2
  - libbaz ^1.4
conflicts:
  - oldfoo
  - foo-legacy <2
`
	if string(out) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", out, want)
	}
	back, err := Parse(out, "m.yaml", "")
	if err != nil {
		t.Fatal(err)
	}
	if !equalManifest(m, back) {
		t.Errorf("round trip changed the manifest:\n%+v\n%+v", m, back)
	}
}

func TestMarshalMinimalAndTricky(t *testing.T) {
	tests := []string{
		"name: foo\nversion: 1.0.0\n",
		"name: '123'\nversion: 1.0.0\n",
		"name: 'true'\nversion: 1.0.0\n",
		"name: foo\nversion: 1.0.0\ndescription: '# not a comment: really'\nlicense: 'null'\nhomepage: '~'\n",
		"name: foo\nversion: 1.0.0\ndescription: \"  leading and trailing  \\n\\n\"\n",
		"name: foo\nversion: 1.0.0\ndepends: ['a >=1,\n  <2', b]\n",
		// yaml's emitter writes a literal block it cannot read back for these.
		"name: foo\nversion: 1.0.0\ndescription: \"\\t\\n\"\n",
		"name: foo\nversion: 1.0.0\ndescription: \"\\tindented\\nsecond\\n\"\n",
	}
	for _, in := range tests {
		m, err := Parse([]byte(in), "m.yaml", "")
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		out, err := m.Marshal()
		if err != nil {
			t.Errorf("Marshal of %q: %v", in, err)
			continue
		}
		back, err := Parse(out, "m.yaml", "")
		if err != nil || !equalManifest(m, back) {
			t.Errorf("round trip of %q via %q: %+v, %v", in, out, back, err)
		}
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	v := mustVersion(t, "1.0.0")
	tests := []struct {
		desc string
		m    Manifest
	}{
		{"no version", Manifest{Name: "foo"}},
		{"no name", Manifest{Version: v}},
		{"bad name", Manifest{Name: "a b", Version: v}},
		{"bad dependency", Manifest{Name: "foo", Version: v, Depends: []Dependency{{Name: "x/y"}}}},
		{"self dependency", Manifest{Name: "foo", Version: v, Depends: []Dependency{{Name: "foo"}}}},
		{"control character", Manifest{Name: "foo", Version: v, Description: "\x1b[2J"}},
	}
	for _, tt := range tests {
		if out, err := tt.m.Marshal(); err == nil {
			t.Errorf("%s: Marshal succeeded: %q", tt.desc, out)
		}
	}
}

// equalManifest compares what a manifest means, not pointer identity.
func equalManifest(a, b *Manifest) bool {
	if a.Name != b.Name || a.Description != b.Description || a.License != b.License || a.Homepage != b.Homepage {
		return false
	}
	if (a.Version == nil) != (b.Version == nil) || a.Version != nil && a.Version.String() != b.Version.String() {
		return false
	}
	return equalDeps(a.Depends, b.Depends) && equalDeps(a.Conflicts, b.Conflicts)
}

func equalDeps(a, b []Dependency) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].Raw != b[i].Raw || (a[i].Constraint == nil) != (b[i].Constraint == nil) {
			return false
		}
		if a[i].Constraint != nil && a[i].Constraint.String() != b[i].Constraint.String() {
			return false
		}
	}
	return true
}

// The manifest's bounds are the catalog check's, so that add refuses what
// clients would (catalog, a leaf, keeps its own copies).
func TestBoundsMatchTheCatalog(t *testing.T) {
	if MaxText != catalog.MaxTextLen || MaxDeps != catalog.MaxDeps {
		t.Errorf("manifest MaxText %d, MaxDeps %d; catalog MaxTextLen %d, MaxDeps %d", MaxText, MaxDeps, catalog.MaxTextLen, catalog.MaxDeps)
	}
}

// TestParseReportsEveryField: each wrong field is reported, in the order
// written, so that a manifest with several mistakes is fixed in one run of
// add (it used to stop at the first).
func TestParseReportsEveryField(t *testing.T) {
	tests := []struct {
		yaml   string
		fields []string
	}{
		{"version: 1.x\nlicence: MIT\ndepends: [\">>\"]\ndepends: []\n", []string{"version", "licence", "depends[0]", "depends"}},
		{"versionn: 1.0.0\n", []string{"versionn", "version"}},
		{"name: Bad Name\nversion: 1.0.0\n", []string{"name"}},
		// Bounded: 30 unknown keys and no version are 20 and a count.
		{manyUnknown(30), append(unknownFields(20), "")},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "p/manifest.yaml", "p")
		if err == nil {
			t.Errorf("%q: no error", tt.yaml)
			continue
		}
		var errs []error
		if many, ok := err.(FieldErrors); ok {
			errs = many
		} else {
			errs = []error{err}
		}
		var got []string
		for _, e := range errs {
			var ferr *FieldError
			if !errors.As(e, &ferr) {
				t.Fatalf("%q: %T is not a *FieldError: %v", tt.yaml, e, e)
			}
			got = append(got, ferr.Field)
		}
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%q: fields %q, want %q (%v)", tt.yaml, got, tt.fields, err)
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != len(tt.fields) {
			t.Errorf("%q: %d lines, want one per field:\n%v", tt.yaml, n, err)
		}
	}
}

// manyUnknown is n unknown keys, k0 to k(n-1); unknownFields their names.
func manyUnknown(n int) string {
	return strings.Join(unknownFields(n), ": 1\n") + ": 1\n"
}

func unknownFields(n int) []string {
	fields := make([]string, n)
	for i := range fields {
		fields[i] = "k" + strconv.Itoa(i)
	}
	return fields
}
