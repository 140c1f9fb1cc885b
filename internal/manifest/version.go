package manifest

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/Masterminds/semver/v3"
)

// VersionError says that a text is not a strict SemVer 2.0.0 version.
type VersionError struct {
	Text    string
	Suggest string // a valid version close to Text, for the hint
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s is not a SemVer 2.0.0 version (want MAJOR.MINOR.PATCH, e.g. %s)",
		quoteShort(e.Text), e.Suggest)
}

// ParseVersion parses a strict SemVer 2.0.0 version: "1.2.3",
// "2.0.0-rc.1", "1.0.0+build.5". "1.2" and "v1.2.3" are rejected, because a
// version that the catalog orders must mean the same thing to every tool.
// The error is a *VersionError.
func ParseVersion(s string) (*semver.Version, error) {
	v, err := semver.StrictNewVersion(s)
	if err == nil {
		return v, nil
	}
	// Suggest what the user probably meant ("1.2" -> "1.2.0", "v1.2.3" ->
	// "1.2.3") when the loose parser understands it.
	suggest := "1.0.0"
	if lv, lerr := semver.NewVersion(s); lerr == nil {
		if _, serr := semver.StrictNewVersion(lv.String()); serr == nil {
			suggest = lv.String()
		}
	}
	return nil, &VersionError{Text: s, Suggest: suggest}
}

// constraintHelp lists the accepted forms, for error messages.
const constraintHelp = `want e.g. "1.2.3", ">=1.2, <2", "^1.4", "~1.2" or "*"`

// ParseConstraint parses a version constraint in the Masterminds syntax:
// "1.2.3", ">=1.2, <2", "^1.4", "~1.2", "1.2 - 1.4", ">=1 || <0.5", "*".
// An empty constraint is an error: "any version" is written as no
// constraint at all. Like the library, a constraint admits pre-release
// versions only when it names a pre-release itself.
func ParseConstraint(s string) (*semver.Constraints, error) {
	t := normalizeSpace(s)
	switch {
	case t == "":
		return nil, errors.New("constraint is empty (" + constraintHelp + ")")
	case len(t) > semver.MaxConstraintLen:
		return nil, fmt.Errorf("constraint is %d bytes, at most %d", len(t), semver.MaxConstraintLen)
	}
	parsed.Lock()
	c, ok := parsed.m[t]
	parsed.Unlock()
	if ok {
		return c, nil
	}
	c, err := semver.NewConstraint(t)
	if err != nil {
		// The library's messages repeat the input and add nothing a user
		// can act on; say what is accepted instead.
		return nil, fmt.Errorf("invalid constraint %s (%s)", quoteShort(t), constraintHelp)
	}
	parsed.Lock()
	if len(parsed.m) < maxParsed {
		parsed.m[t] = c
	}
	parsed.Unlock()
	return c, nil
}

// parsed holds the constraints ParseConstraint parsed, by their text: a
// catalog says the same few ones again and again (">=1.2, <2" in every
// row that depends on one library), and the library's parser, a handful
// of regular expressions, took 16 µs each time. An install of 300
// packages each depending on up to 256 others with the same constraint
// spent 58 % of its CPU (2.1 s) parsing them, in the resolver's source
// and in the records it commits. The constraints are shared: callers
// never change one (Holds and the resolver change a copy).
var parsed = struct {
	sync.Mutex
	m map[string]*semver.Constraints
}{m: map[string]*semver.Constraints{}}

// maxParsed bounds parsed: a catalog of distinct constraints (a hostile
// one's) parses the ones past it each time, as before.
const maxParsed = 4096

// Dependency is one entry of depends or conflicts, or a package request:
// a name and an optional constraint on its version.
type Dependency struct {
	Name       string
	Constraint *semver.Constraints // nil means any (non-pre-release) version
	Raw        string              // the constraint as written with runs of whitespace made one space; "" when none
	// Build is the build metadata of a request for one exact version
	// ("b" in foo@1.0.0+b), "" otherwise. SemVer precedence, and so
	// Constraint, ignores build metadata: =1.0.0+b matches 1.0.0+a and
	// 1.0.0 too, which old catalogs may hold beside it (dist-server add
	// now refuses such variants). A request that names one means that one.
	Build string
}

// String gives the canonical text form: "libfoo" or "libfoo >=1.2, <2".
// ParseDependency reads it back.
func (d Dependency) String() string {
	switch {
	case d.Raw != "":
		return d.Name + " " + d.Raw
	case d.Constraint != nil:
		return d.Name + " " + d.Constraint.String()
	default:
		return d.Name
	}
}

// Allows reports whether version v satisfies the dependency's constraint.
// SemVer says pre-releases are chosen only when asked for, so without a
// constraint only release versions are allowed, and a constraint allows a
// pre-release only when it names one itself.
func (d Dependency) Allows(v *semver.Version) bool {
	if v == nil || (d.Build != "" && v.Metadata() != d.Build) {
		return false
	}
	if d.Constraint == nil {
		return v.Prerelease() == ""
	}
	return d.Constraint.Check(v)
}

// Holds reports whether v is in the dependency's range, pre-releases
// counted: how clients match an installed pre-release, or one the command
// names exactly (resolve's checkRelaxed, which works on the constraint).
func (d Dependency) Holds(v *semver.Version) bool {
	if v == nil || (d.Build != "" && v.Metadata() != d.Build) {
		return false
	}
	if d.Constraint == nil {
		return true
	}
	c := *d.Constraint
	c.IncludePrerelease = true
	return c.Check(v)
}

// constraintStart holds the characters that can open a constraint and can
// never appear in a name, so "libfoo>=1.2" splits without a space.
const constraintStart = "=!<>~^"

// ParseDependency parses "name" or "name constraint", e.g. "libbar",
// "libbar ^1.4", "libfoo >=1.2, <2" or "libfoo>=1.2".
func ParseDependency(s string) (Dependency, error) {
	t := normalizeSpace(s)
	if t == "" {
		return Dependency{}, errors.New(`dependency is empty (want "name" or "name constraint")`)
	}
	name, rest := t, ""
	if i := strings.IndexFunc(t, func(r rune) bool {
		return r == ' ' || strings.ContainsRune(constraintStart, r)
	}); i >= 0 {
		name, rest = t[:i], strings.TrimSpace(t[i:])
	}
	if name == "" {
		return Dependency{}, fmt.Errorf("dependency %s: missing package name before the constraint", quoteShort(t))
	}
	if err := ValidateName(name); err != nil {
		return Dependency{}, fmt.Errorf("dependency %s: %w", quoteShort(t), err)
	}
	d := Dependency{Name: name}
	if rest == "" {
		return d, nil
	}
	c, err := ParseConstraint(rest)
	if err != nil {
		return Dependency{}, fmt.Errorf("dependency %s: %w", quoteShort(t), err)
	}
	d.Constraint, d.Raw = c, rest
	return d, nil
}

// ParseRequest parses a command-line package request: "foo", "foo@1.2.3",
// "foo@>=1.2, <2", "foo@^1". An exact version "foo@1.2.3" (or
// "foo@=1.2.3") becomes the constraint "=1.2.3", and the build metadata of
// one ("foo@1.2.3+b") is kept in Build; anything else after "@" is a
// constraint.
func ParseRequest(s string) (Dependency, error) {
	t := strings.TrimSpace(s)
	name, spec, hasAt := strings.Cut(t, "@")
	if name == "" {
		return Dependency{}, fmt.Errorf("request %s: missing package name (want NAME, NAME@VERSION or NAME@CONSTRAINT)", quoteShort(s))
	}
	if err := ValidateName(name); err != nil {
		// "foo>=1.2" is a likely slip; show the spelling that works.
		if i := strings.IndexAny(name, constraintStart+" "); i > 0 && !hasAt && ValidateName(name[:i]) == nil {
			if _, cerr := ParseConstraint(name[i:]); cerr == nil {
				return Dependency{}, fmt.Errorf("request %s: %w (write %s@%s)",
					quoteShort(s), err, name[:i], normalizeSpace(name[i:]))
			}
		}
		return Dependency{}, fmt.Errorf("request %s: %w", quoteShort(s), err)
	}
	d := Dependency{Name: name}
	if !hasAt {
		return d, nil
	}
	spec = normalizeSpace(spec)
	if spec == "" {
		return Dependency{}, fmt.Errorf(`request %s: missing version or constraint after "@" (e.g. %s@1.2.3 or %s@^1.2)`,
			quoteShort(s), name, name)
	}
	if v, err := ParseVersion(strings.TrimSpace(strings.TrimPrefix(spec, "="))); err == nil {
		// A bare version in a constraint is "1.2.3" already, but spell the
		// exact match out so that plans and messages say what is meant.
		spec, d.Build = "="+v.Original(), v.Metadata()
	}
	c, err := ParseConstraint(spec)
	if err != nil {
		return Dependency{}, fmt.Errorf("request %s: %w", quoteShort(s), err)
	}
	d.Constraint, d.Raw = c, spec
	return d, nil
}

// normalizeSpace trims s and makes each run of whitespace one space, so
// that a constraint written over several YAML lines is stored and shown on
// one.
func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
