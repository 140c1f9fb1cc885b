package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

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
