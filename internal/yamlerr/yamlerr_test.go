package yamlerr

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestLines: each mistake is named at the line where it is, or where the
// construct it breaks begins (an unclosed [ or {, a list that a key
// interrupts); yaml.v3 said one line earlier for its parser's problems.
func TestLines(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a: 1\nb: 2\nc: [x\n", "line 3: did not find expected ',' or ']'"},
		{"a: 1\nb: 2\nc: {x: 1\n", "line 3: did not find expected ',' or '}'"},
		{"a: 1\nb: 2\n- x\n", "line 3: did not find expected key"},
		{"a: 1\nb:\n  - x\n  y: 2\n", "line 3: did not find expected '-' indicator"},
		{"a: 1\nb: 2\nc: [x, y\nd: 4\n", "line 3: did not find expected ',' or ']'"},
		// The scanner's problems were right and stay so.
		{"a: 1\nb: 2\n c: 3\n", "line 3: mapping values are not allowed in this context"},
		{"a: 1\nb: 2\nc: 3: 4\n", "line 3: mapping values are not allowed in this context"},
		{"a: 1\nb: 2\nc: @x\n", "line 3: found character that cannot start any token"},
		{"a: 1\nb: 2\nc:\t3\n\td: 4\n", "line 3: found a tab character that violates indentation"},
		{"a: 1\nb: 2\nc: \"x\n", "line 3: found unexpected end of stream"},
		{"a: 1\nb: *nope\n", "unknown anchor 'nope' referenced"},
		// Found at the end of the input: the last line, not the one after.
		{"version: [1.0.0\n", "line 1: did not find expected ',' or ']'"},
		{"version: [1.0.0", "line 1: did not find expected ',' or ']'"},
		{"a: 1\nversion: [1.0.0\n", "line 2: did not find expected ',' or ']'"},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tt.in), &n)
		if err == nil {
			t.Errorf("%q: no error", tt.in)
			continue
		}
		if got := message(err, []byte(tt.in)); got != tt.want {
			t.Errorf("%q: %q, want %q (yaml said %q)", tt.in, got, tt.want, err)
		}
	}
}

func TestOtherErrors(t *testing.T) {
	var v struct{ A int }
	err := yaml.Unmarshal([]byte("a: [1]\n"), &v)
	if got, want := Message(err, []byte("a: [1]\n")), "line 1: cannot unmarshal !!seq into int"; got != want {
		t.Errorf("type error: %q, want %q", got, want)
	}
	if got := Message(errors.New("open x: no such file"), nil); got != "open x: no such file" {
		t.Errorf("other error: %q", got)
	}
}

// TestHints: a problem that a misplaced indentation or a missing space
// after a colon likely caused says so after the parser's words, which
// alone did not (a newcomer's client.yaml); other problems have no hint.
func TestHints(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"web_seed: true\n  bad: indent\n", `line 2: mapping values are not allowed in this context (a line indented more than the key before it, or a value with ": " in it? each key starts its line, as the others do, as "key: value"; quote a value that holds ": ")`},
		{"a: b: c\n", `mapping values are not allowed in this context (a line indented more`},
		{"server_urls:\n  - http://a\n - http://b\n", `line 3: did not find expected key (a line indented less, or otherwise, than the others at its level?`},
		{"a: 1\nb 2\nc: 3\n", `line 2: could not find expected ':' (each line of a mapping is "key: value", with a space after the colon)`},
		{"a: 1\n\tb: 2\n", `line 2: found a tab character that violates indentation (indent with spaces: YAML does not take tabs)`},
		{"a: [x\n", "line 1: did not find expected ',' or ']'"},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tt.in), &n)
		if err == nil {
			t.Errorf("%q: no error", tt.in)
			continue
		}
		got := Message(err, []byte(tt.in))
		if !strings.HasPrefix(got, tt.want) || !strings.Contains(tt.want, "(") && got != tt.want {
			t.Errorf("%q:\n got  %s\n want %s", tt.in, got, tt.want)
		}
	}
}

// TestLine: Message's line apart from its text, for config's
// "FILE:LINE: what"; 0 when yaml names none.
func TestLine(t *testing.T) {
	type want struct {
		line int
		rest string
	}
	for _, tt := range []struct {
		in string
		want
	}{
		{"a: 1\nb: 2\nc: [x\n", want{3, "did not find expected ',' or ']'"}},
		{"a: 1\n\tb: 2\n", want{2, "found a tab character that violates indentation (indent with spaces: YAML does not take tabs)"}},
		{"a: 1\nb: *nope\n", want{0, "unknown anchor 'nope' referenced"}},
	} {
		var n yaml.Node
		err := yaml.Unmarshal([]byte(tt.in), &n)
		if err == nil {
			t.Fatalf("%q: no error", tt.in)
		}
		if line, rest := Line(err, []byte(tt.in)); line != tt.line || rest != tt.rest {
			t.Errorf("%q: %d, %q; want %d, %q", tt.in, line, rest, tt.line, tt.rest)
		}
	}
}
