package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/distpac/distpac/internal/suggest"
	"github.com/distpac/distpac/internal/yamlerr"
)

// MaxSize bounds a manifest file; real ones are a few hundred bytes, and a
// bound keeps a hostile package from making the parser chew on megabytes.
const MaxSize = 1 << 20

// MaxText bounds description, license and homepage, and MaxDeps the
// entries of depends and of conflicts: the catalog check refuses a row
// over them (catalog.MaxTextLen, catalog.MaxDeps), so add refuses such a
// manifest first, naming the field.
const (
	MaxText = 64 << 10
	MaxDeps = 256
)

// knownKeys is listed in every unknown-key error so that a typo shows its
// fix next to it.
const knownKeys = "name, version, description, license, homepage, depends, conflicts"

// FieldError names the file and the field that is wrong.
type FieldError struct {
	Path  string // the manifest's path, as given to Parse
	Field string // e.g. "version" or "depends[1]"; "" when the file as a whole is wrong
	Msg   string // what is wrong, e.g. "is required"
	Err   error  // the underlying error when there is one, for errors.Is/As
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %s: ", quoteShort(e.Field))
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *FieldError) Unwrap() error { return e.Err }

// Manifest is a validated manifest.yaml.
type Manifest struct {
	Name        string
	Version     *semver.Version
	Description string
	License     string
	Homepage    string
	Depends     []Dependency
	Conflicts   []Dependency
}

// Parse decodes and validates manifest bytes. path names the file in
// errors (e.g. "pkgs/foo/manifest.yaml"); dirName is the base name of the
// package directory, whose DefaultName is the name when the manifest has
// none. Every error is a *FieldError, or FieldErrors when several fields
// are wrong.
func Parse(data []byte, path, dirName string) (*Manifest, error) {
	p := parser{path: path}
	if len(data) > MaxSize {
		return nil, p.fail("", fmt.Sprintf("manifest is %d bytes, at most %d", len(data), MaxSize), nil)
	}
	root, err := p.root(data)
	if err != nil {
		return nil, err
	}
	m, errs := p.fields(root)
	if len(errs) > 0 {
		return nil, joinFieldErrors(errs)
	}
	if m.Name == "" {
		name := DefaultName(dirName)
		if name == "" {
			return nil, p.fail("name", "is required (no directory name to take it from)", nil)
		}
		var nerr *NameError
		if err := ValidateName(name); errors.As(err, &nerr) {
			return nil, p.fail("name", fmt.Sprintf("is absent, and the directory name %s is not a valid package name: %s (set name in the manifest)",
				quoteShort(dirName), nerr.Reason), err)
		}
		m.Name = name
	}
	if err := p.checkSelf(m.Name, "depends", "depend on", m.Depends); err != nil {
		return nil, err
	}
	if err := p.checkSelf(m.Name, "conflicts", "conflict with", m.Conflicts); err != nil {
		return nil, err
	}
	return m, nil
}

// Marshal encodes m as canonical YAML: keys in the documented order, empty
// optional keys left out, dependencies in their String form. The result
// always parses back to an equal manifest; anything Parse would reject is
// an error here instead.
func (m *Manifest) Marshal() ([]byte, error) {
	if m.Version == nil {
		return nil, errors.New("marshal manifest: version is missing")
	}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key string, value *yaml.Node) {
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
	}
	addList := func(key string, deps []Dependency) {
		if len(deps) == 0 {
			return
		}
		list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, d := range deps {
			list.Content = append(list.Content, textNode(d.String()))
		}
		add(key, list)
	}
	add("name", textNode(m.Name))
	add("version", textNode(m.Version.String()))
	for _, f := range []struct{ key, value string }{
		{"description", m.Description}, {"license", m.License}, {"homepage", m.Homepage},
	} {
		if f.value != "" {
			add(f.key, textNode(f.value))
		}
	}
	addList("depends", m.Depends)
	addList("conflicts", m.Conflicts)

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("marshal manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal manifest: %w", err)
	}
	// Re-parsing is cheap and turns "canonical" into a checked promise:
	// a Manifest built by hand with a bad name or dependency fails here,
	// not later in whoever reads the file.
	if _, err := Parse(buf.Bytes(), "", ""); err != nil {
		return nil, fmt.Errorf("marshal manifest: %w", err)
	}
	return buf.Bytes(), nil
}

// textNode is a string scalar in the most readable style that survives a
// round trip. yaml's emitter picks a style that it cannot always read
// back (a literal block starting with a tab, for one), so the chosen style
// is tried and double quotes, which escape everything, are the fallback.
func textNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	probe := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "k"}, n,
	}}
	var back map[string]string
	if out, err := yaml.Marshal(probe); err != nil || yaml.Unmarshal(out, &back) != nil || back["k"] != s {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// parser carries the path so that every error can name it.
type parser struct {
	path string
}

func (p parser) fail(field, msg string, err error) error {
	return &FieldError{Path: p.path, Field: field, Msg: msg, Err: err}
}

// root decodes the single YAML document and returns its top-level mapping.
func (p parser) root(data []byte) (*yaml.Node, error) {
	if blank(data) {
		return nil, p.fail("", "manifest is empty", nil)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	// Decoding goes into a yaml.Node, which has no fields to be unknown;
	// fields() checks the keys itself so that it can name the bad key and
	// list the good ones. KnownFields stays on so that any later change
	// to decode into a struct keeps the strictness.
	dec.KnownFields(true)
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.fail("", "manifest is empty", nil)
		}
		return nil, p.yamlError(err, data)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.yamlError(err, data)
		}
		return nil, p.fail("", fmt.Sprintf("line %d: a manifest is one YAML document, found a second one", next.Line), nil)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil, p.fail("", "manifest is empty", nil)
		}
		root = root.Content[0]
	}
	root = deref(root)
	if isNull(root) {
		return nil, p.fail("", "manifest is empty", nil)
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.fail("", fmt.Sprintf("line %d: the top level must be a mapping of keys (%s), found %s",
			root.Line, knownKeys, kindName(root)), nil)
	}
	return root, nil
}

func (p parser) yamlError(err error, data []byte) error {
	// yaml's messages carry the line ("line 3: ..."); keep it.
	return p.fail("", "invalid YAML: "+yamlerr.Message(err, data), err)
}

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

// FieldErrors are the mistakes of one manifest, each a *FieldError, one
// per line.
type FieldErrors []error

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

func (e FieldErrors) Unwrap() []error { return e }

// maxFieldErrors bounds the mistakes reported of one manifest: a manifest
// of MaxSize with a few hundred thousand unknown keys would otherwise be
// tens of MB of errors.
const maxFieldErrors = 20

// joinFieldErrors is the one error of errs (a *FieldError) or FieldErrors,
// at most maxFieldErrors of them and a count of the rest.
func joinFieldErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	if n := len(errs) - maxFieldErrors; n > 0 {
		var first *FieldError
		errors.As(errs[0], &first)
		errs = append(errs[:maxFieldErrors:maxFieldErrors], &FieldError{Path: first.Path, Msg: fmt.Sprintf("and %d more mistakes", n)})
	}
	return FieldErrors(errs)
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

// deref follows an alias (*anchor) to the node it names. Aliases are not
// expanded recursively, so a "billion laughs" document costs nothing.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing (null)"
	case n.Kind == yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	default:
		return "an unexpected YAML node"
	}
}

// blank reports whether data holds only whitespace and comments. YAML
// itself refuses some of these (a tab-indented comment), but to a user such
// a file is simply empty.
func blank(data []byte) bool {
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}
