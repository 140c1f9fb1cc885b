package manifest

import (
	"strings"
	"testing"
)

// FuzzParse holds Parse to two promises: it never panics, and whatever it
// accepts, Marshal writes in a form that Parse reads back unchanged.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullManifest), "foo")
	f.Add([]byte("version: 1.0.0\n"), "foo-1.0.0-rc.1")
	f.Add([]byte("name: foo\nversion: 1.0.0\ndepends: [a, \"b >=1, <2\"]\nconflicts: [c <1 || >=3]\n"), "")
	f.Add([]byte("name: foo\nversion: &v 1.0.0\ndescription: *v\n"), "")
	f.Add([]byte("{name: foo, version: 2.0.0, description: \"tab\\there\\nnew line\"}"), "")
	f.Add([]byte("- a\n- b\n"), "x")
	f.Add([]byte("version: 1.2\n"), "x")
	f.Add([]byte(""), "")
	f.Fuzz(func(t *testing.T, data []byte, dirName string) {
		m, err := Parse(data, "manifest.yaml", dirName)
		if err != nil {
			if m != nil {
				t.Fatal("Parse returned a manifest and an error")
			}
			if !strings.HasPrefix(err.Error(), "manifest.yaml: ") {
				t.Fatalf("error does not name the path: %v", err)
			}
			return
		}
		if err := ValidateName(m.Name); err != nil {
			t.Fatalf("accepted an invalid name: %v", err)
		}
		if m.Version == nil {
			t.Fatal("accepted a manifest without a version")
		}
		out, err := m.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted manifest failed: %v\ninput: %q", err, data)
		}
		back, err := Parse(out, "manifest.yaml", "")
		if err != nil {
			t.Fatalf("Parse of Marshal output failed: %v\ninput: %q\noutput: %q", err, data, out)
		}
		if !equalManifest(m, back) {
			t.Fatalf("round trip changed the manifest:\n%+v\n%+v\noutput: %q", m, back, out)
		}
		again, err := back.Marshal()
		if err != nil || string(again) != string(out) {
			t.Fatalf("Marshal is not canonical: %q then %q (%v)", out, again, err)
		}
	})
}

// FuzzParseRequest checks that a request never panics and that an accepted
// request reads back from its String form.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{"foo", "foo@1.2.3", "foo@>=1.2, <2", "foo@^1", "foo@", "@1", "foo>=1", "a@b@c", "foo@1.0.0-rc.1+b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseRequest(s)
		if err != nil {
			return
		}
		if err := ValidateName(d.Name); err != nil {
			t.Fatalf("accepted an invalid name: %v", err)
		}
		if (d.Constraint == nil) != (d.Raw == "") {
			t.Fatalf("Constraint and Raw disagree: %+v", d)
		}
		back, err := ParseDependency(d.String())
		if err != nil || back.Name != d.Name || back.Raw != d.Raw {
			t.Fatalf("ParseDependency(%q) = %+v, %v; want %+v", d.String(), back, err, d)
		}
	})
}

// FuzzParseConstraint checks that constraint parsing never panics, that
// checking a version against an accepted constraint never panics, and
// that dependencies built on it survive their String form.
func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{"1.2.3", ">=1.2, <2", "^1.4", "~1.2", "*", "1.2 - 1.4", "<1 || >=3", "!=1.x", ">=2.0.0-rc.1", ""} {
		f.Add(s, "1.2.3")
	}
	f.Fuzz(func(t *testing.T, s, version string) {
		c, err := ParseConstraint(s)
		if err != nil {
			return
		}
		if v, err := ParseVersion(version); err == nil {
			d := Dependency{Name: "x", Constraint: c}
			_ = d.Allows(v)
		}
		d, err := ParseDependency("x " + s)
		if err != nil {
			t.Fatalf("constraint %q accepted alone but not in a dependency: %v", s, err)
		}
		back, err := ParseDependency(d.String())
		if err != nil || back.Raw != d.Raw {
			t.Fatalf("ParseDependency(%q) = %+v, %v; want Raw %q", d.String(), back, err, d.Raw)
		}
	})
}
