// Package config reads server.yaml and client.yaml (DESIGN.md §2).
//
// Decoding is strict: every key must be one the struct declares, every value
// must have the right type, and each problem is reported as one line naming
// the file, the line, the key and what is wrong, so a typo never passes
// silently:
//
//	/etc/distpac/client.yaml:2: unknown key "server_ulr" (did you mean "server_url"?)
//	/etc/distpac/server.yaml:5: key "upload_rate_limit": "fast" is not a size: ...
//
// Every mistake of a file is reported at once (Mistakes), as add reports
// every mistake of every manifest: a newcomer fixed a server.yaml of four
// mistakes in four runs. They come in the file's order, as a compiler's
// do; a mistake of a key the file does not set (its default's) has no
// line and comes last. Only a YAML syntax error, after which nothing more
// can be read, is reported alone.
//
// Instead of yaml.Decoder.KnownFields, the file is parsed into a yaml.Node
// and each top-level key is decoded into the field carrying the same yaml tag.
// That gives the same strictness but lets the errors speak about keys, not
// about Go types ("field x not found in type config.Client").
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/suggest"
	"github.com/distpac/distpac/internal/units"
	"github.com/distpac/distpac/internal/yamlerr"
)

// maxConfigSize bounds a config file.
const maxConfigSize = 1 << 20

// load reads path into out (a pointer to a struct with yaml tags),
// adding each key's mistake to p, and returns an error that stops the
// reading: a file that cannot be read, or is no YAML. A missing file
// leaves out untouched when optional is set; the caller then applies
// defaults as for an empty file.
func load(path string, optional bool, out any, p *problems) error {
	if path == "" {
		if optional {
			return nil
		}
		return errors.New("no config file given")
	}
	// A config is a few hundred bytes; --config /dev/zero read until the
	// kernel killed the process, and a FIFO blocked it.
	data, err := fsutil.ReadRegular(path, maxConfigSize, true)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			// Not "read config: stat PATH: no such file or directory".
			return fmt.Errorf("config %s: no such file (check the path given with --config)", path)
		}
		return fmt.Errorf("read config: %w", err)
	}
	if err := decodeKeys(data, out, nil, p); err != nil {
		return &Mistakes{Source: path, Errs: []error{err}}
	}
	return nil
}

// decode fills out from one YAML document, with every mistake in the one
// error. An empty document (or one holding only comments) sets nothing.
func decode(data []byte, out any) error {
	var p problems
	if err := decodeKeys(data, out, nil, &p); err != nil {
		return err
	}
	return p.err("")
}

// GivenKeys lists the keys of the server.yaml at path that are set to a
// value (a key with nothing after it means the default, as an absent one
// does), in the file's order; none when there is no such file.
func GivenKeys(path string) ([]string, error) {
	// Bounded as every read of a config (dist-server mirror reads it
	// once more after loading it, the file may have changed between).
	data, err := fsutil.ReadRegular(path, maxConfigSize, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var keys []string
	var p problems
	if err := decodeKeys(data, &Server{}, &keys, &p); err != nil {
		return nil, &Mistakes{Source: path, Errs: []error{err}}
	}
	return keys, p.err(path)
}

// decodeKeys fills out from one YAML document, appending to keys (when
// not nil) each key set to a value, and to p each key's line and mistake;
// it returns the error that ends the reading (YAML that does not parse,
// or that is no mapping), a *lineError.
func decodeKeys(data []byte, out any, keys *[]string, p *problems) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return syntaxError(err, data)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return syntaxError(err, data)
		}
		return atLine(extra.Line, errors.New("more than one YAML document; want one mapping of keys to values"))
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		if root.Kind == yaml.ScalarNode && strings.Contains(root.Value, ":") {
			// "server_url:http://x" is one string to YAML.
			return atLine(root.Line, fmt.Errorf("want a mapping of keys to values, got %s (write each key as \"key: value\", with a space after the colon)", describe(root)))
		}
		return atLine(root.Line, fmt.Errorf("want a mapping of keys to values, got %s", describe(root)))
	}

	fields := fieldsByTag(out)
	seen := make(map[string]bool, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := resolve(root.Content[i]), resolve(root.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.add(k.Line, fmt.Errorf("want a key name, got %s", describe(k)))
			continue
		}
		key := k.Value
		field, ok := fields[key]
		if !ok {
			p.add(k.Line, unknownKey(key, fields))
			continue
		}
		if seen[key] {
			// Said at the second: the first is the one read.
			p.keyAt(key, k.Line, fmt.Errorf("given twice (first at line %d)", p.lines[key]))
			continue
		}
		seen[key] = true
		p.setLine(key, k.Line)
		if keys != nil && !(v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null") {
			*keys = append(*keys, key)
		}
		if err := decodeValue(v, field); err != nil {
			if _, plural := fields[key+"s"]; plural && v.Kind == yaml.SequenceNode {
				err = fmt.Errorf("%w (%s lists several)", err, key+"s")
			}
			// The field keeps its zero value, the default: its checks
			// would only repeat this.
			field.SetZero()
			p.key(key, err)
		}
	}
	return nil
}

// decodeValue stores one scalar into a field. Null leaves the field at its
// zero value, which ApplyDefaults then fills: "key:" with nothing after it
// means "the default", as an absent key does.
func decodeValue(v *yaml.Node, field reflect.Value) error {
	if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
		return nil
	}
	switch p := field.Addr().Interface().(type) {
	case *string:
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("want a string, got %s", describe(v))
		}
		*p = v.Value
	case *bool:
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" {
			return fmt.Errorf("want true or false, got %s", describe(v))
		}
		if err := v.Decode(p); err != nil {
			return fmt.Errorf("want true or false, got %s", describe(v))
		}
	case *units.Size:
		if err := v.Decode(p); err != nil {
			return cleanYAMLError(err, nil) // a type error: no syntax line to correct
		}
	case *Duration:
		if err := p.UnmarshalYAML(v); err != nil {
			return err
		}
	case *[]string:
		list, err := decodeList(v)
		if err != nil {
			return err
		}
		*p = list
	case *float64:
		tag := v.ShortTag()
		if v.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") {
			return fmt.Errorf("want a number, got %s", describe(v))
		}
		f, err := strconv.ParseFloat(v.Value, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a number, got %q", v.Value)
		}
		*p = f
	default:
		// A new field type needs a case here; the tests decode every field.
		return fmt.Errorf("internal error: no decoder for %s", field.Type())
	}
	return nil
}

// maxListLen bounds a list value: the lists in these files name servers
// and trackers, a handful each.
const maxListLen = 64

// decodeList reads a list of strings ("- a" lines or "[a, b]").
func decodeList(v *yaml.Node) ([]string, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("want a list (one \"- value\" line each), got %s", describe(v))
	}
	// "[]" is a mistake, not "the default": an empty server_urls fell back
	// to the default server_url, a URL the file named nowhere.
	if len(v.Content) == 0 {
		return nil, errors.New("an empty list: give at least one entry, or leave the key out for the default")
	}
	if len(v.Content) > maxListLen {
		return nil, fmt.Errorf("%d entries, at most %d", len(v.Content), maxListLen)
	}
	out := make([]string, 0, len(v.Content))
	for i, e := range v.Content {
		e = resolve(e)
		if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" || e.Value == "" {
			return nil, fmt.Errorf("entry %d: want a string, got %s", i+1, describe(e))
		}
		out = append(out, e.Value)
	}
	return out, nil
}

// fieldsByTag maps each yaml tag of the struct behind out to its field.
func fieldsByTag(out any) map[string]reflect.Value {
	v := reflect.ValueOf(out).Elem()
	t := v.Type()
	fields := make(map[string]reflect.Value, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = v.Field(i)
		}
	}
	return fields
}

// resolve follows an alias (*anchor) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe names a node for an error message: a scalar by its quoted value,
// anything else by its kind.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return "nothing usable"
	}
}

// unknownKey builds the error for a key the struct lacks, suggesting the
// closest known key when one is a likely typo.
func unknownKey(key string, fields map[string]reflect.Value) error {
	if best := suggest.Typo(key, slices.Collect(maps.Keys(fields))); best != "" {
		return fmt.Errorf("unknown key %q (did you mean %q?)", key, best)
	}
	return fmt.Errorf("unknown key %q", key)
}

// cleanYAMLError is yaml's error on the single error line the CLI prints
// (yamlerr).
func cleanYAMLError(err error, data []byte) error {
	if msg := yamlerr.Message(err, data); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// syntaxError is cleanYAMLError of data's syntax error, at the line it
// names.
func syntaxError(err error, data []byte) error {
	line, msg := yamlerr.Line(err, data)
	if line == 0 {
		return atLine(0, cleanYAMLError(err, data))
	}
	return atLine(line, errors.New(msg))
}
