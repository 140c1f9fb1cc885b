package manifest

// Reading each key of a manifest into its field: the key switch and the
// readers of one value (text, free text, dependencies).

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/distpac/distpac/internal/suggest"
)

// fields reads the top-level keys into a Manifest, and returns what is
// wrong with each of them: a manifest with three mistakes is fixed in one
// run of add, not three. The name is left empty when absent; Parse fills
// in the default.
func (p parser) fields(root *yaml.Node) (*Manifest, []error) {
	var errs []error
	m := &Manifest{}
	seen := make(map[string]int) // key -> line, to catch a key given twice
	var versionSeen bool
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := deref(root.Content[i]), deref(root.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			errs = append(errs, p.fail("", fmt.Sprintf("line %d: keys must be strings, found %s", k.Line, kindName(k)), nil))
			continue
		}
		key := k.Value
		if line, dup := seen[key]; dup {
			errs = append(errs, p.fail(key, fmt.Sprintf("is set twice (lines %d and %d)", line, k.Line), nil))
			continue
		}
		seen[key] = k.Line
		var err error
		switch key {
		case "name":
			// null means absent (take the directory's name); an explicit
			// "" is a mistake worth reporting.
			if !isNull(v) {
				var s string
				if s, err = p.text(key, v); err == nil {
					if nerr := ValidateName(s); nerr != nil {
						err = p.fail(key, nerr.Error(), nerr)
					}
					m.Name = s
				}
			}
		case "version":
			versionSeen = true
			var s string
			if s, err = p.text(key, v); err == nil {
				if s == "" {
					err = p.fail(key, "is required", nil)
				} else if m.Version, err = ParseVersion(s); err != nil {
					err = p.fail(key, err.Error(), err)
				}
			}
		case "description":
			m.Description, err = p.freeText(key, v)
		case "license":
			m.License, err = p.freeText(key, v)
		case "homepage":
			m.Homepage, err = p.freeText(key, v)
		case "depends":
			m.Depends, err = p.deps(key, v)
		case "conflicts":
			m.Conflicts, err = p.deps(key, v)
		default:
			hint := ""
			if best := suggest.Typo(key, strings.Split(knownKeys, ", ")); best != "" {
				hint = fmt.Sprintf("did you mean %q? ", best) // as the config files say it
			}
			err = p.fail(key, fmt.Sprintf("unknown key (%sknown: %s)", hint, knownKeys), nil)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if !versionSeen {
		errs = append(errs, p.fail("version", "is required", nil))
	}
	return m, errs
}

// text returns a scalar's text as written; null gives "". Numbers and
// booleans count as text, so "name: 1.0" is the name "1.0" and a version
// typed as a float is reported with its digits intact.
func (p parser) text(field string, v *yaml.Node) (string, error) {
	if isNull(v) {
		return "", nil
	}
	if v.Kind != yaml.ScalarNode {
		return "", p.fail(field, "must be a string, found "+kindName(v), nil)
	}
	return v.Value, nil
}

// freeText is text for humans. Control characters are refused because these
// fields end up printed on users' terminals by info and search, where an
// escape sequence from a package could rewrite what the user sees.
func (p parser) freeText(field string, v *yaml.Node) (string, error) {
	s, err := p.text(field, v)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(s) {
		return "", p.fail(field, "is not valid UTF-8", nil)
	}
	if len(s) > MaxText {
		return "", p.fail(field, fmt.Sprintf("is %d bytes, at most %d", len(s), MaxText), nil)
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return "", p.fail(field, fmt.Sprintf("contains control character %U", r), nil)
		}
		if unicode.Is(unicode.Bidi_Control, r) {
			return "", p.fail(field, fmt.Sprintf("contains bidirectional control %U, which can show the text around it in another order than it is written", r), nil)
		}
	}
	return s, nil
}

// deps reads a depends or conflicts list.
func (p parser) deps(field string, v *yaml.Node) ([]Dependency, error) {
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.fail(field, fmt.Sprintf(`must be a list like [libfoo, "libbar >=1.2, <2"], found %s`, kindName(v)), nil)
	}
	if len(v.Content) > MaxDeps {
		return nil, p.fail(field, fmt.Sprintf("has %d entries, at most %d", len(v.Content), MaxDeps), nil)
	}
	var out []Dependency
	first := make(map[string]int) // NameKey -> index, to catch duplicates
	for i, item := range v.Content {
		item = deref(item)
		at := fmt.Sprintf("%s[%d]", field, i)
		if item.Kind != yaml.ScalarNode || isNull(item) {
			return nil, p.fail(at, fmt.Sprintf(`must be a string like "libfoo" or "libfoo >=1.2", found %s`, kindName(item)), nil)
		}
		d, err := ParseDependency(item.Value)
		if err != nil {
			msg := err.Error()
			if v.Style&yaml.FlowStyle != 0 && strings.IndexAny(strings.TrimSpace(item.Value), constraintStart) == 0 {
				// [libfoo >=1.2, <2] is two entries in YAML, the second "<2".
				msg += ` (in a [...] list a comma starts a new entry; quote entries that contain one)`
			}
			return nil, p.fail(at, msg, err)
		}
		if NeverMet(d.Constraint) {
			// add warned only that no version published satisfies it,
			// and published a package clients can never install (or a
			// conflict that never applies): a mistake no catalog mends.
			return nil, p.fail(at, fmt.Sprintf("%q can never match a version of %s: the constraint contradicts itself", d.String(), d.Name), nil)
		}
		key := NameKey(d.Name)
		if j, dup := first[key]; dup {
			return nil, p.fail(at, fmt.Sprintf("lists %q again (already at %s[%d]); combine the constraints in one entry", d.Name, field, j), nil)
		}
		first[key] = i
		out = append(out, d)
	}
	return out, nil
}

// checkSelf refuses a package that depends on or conflicts with itself: the
// first can never mean anything and the second can never be installed.
func (p parser) checkSelf(name, field, verb string, deps []Dependency) error {
	for i, d := range deps {
		if NameKey(d.Name) == NameKey(name) {
			return p.fail(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("package %q cannot %s itself", name, verb), nil)
		}
	}
	return nil
}
