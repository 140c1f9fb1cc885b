package manifest

// Writing a manifest back out as YAML (Marshal).

import (
	"bytes"
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

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
