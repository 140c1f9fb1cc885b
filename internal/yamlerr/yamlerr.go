// Package yamlerr words the errors of go.yaml.in/yaml/v3 for the one error
// line a command prints: without the "yaml: " prefix and the "unmarshal
// errors:" framing, and with the line numbers of its parser errors right.
package yamlerr

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// parserProblems are the problems yaml.v3's parser (parserc.go) reports.
// Its error path (decode.go, fail) adds one to the 0-based line of a
// scanner's error but not of a parser's, so `depends: [libgreet` left
// open on line 6 read "line 5: did not find expected ',' or ']'". The
// scanner's problems (mapping values, tabs, bad characters) are never
// among these, and their lines are right. TestLines holds both to what
// v3.0.6 prints.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

var lineMsg = regexp.MustCompile(`^line (\d+): (.*)$`)

// hints say, after the problems of yaml.v3's scanner and parser that a
// misplaced indentation or a missing space after a colon gives, what the
// likely mistake is: the parser's words alone ("mapping values are not
// allowed in this context") did not say it (a newcomer's client.yaml).
var hints = map[string]string{
	"mapping values are not allowed in this context":  `a line indented more than the key before it, or a value with ": " in it? each key starts its line, as the others do, as "key: value"; quote a value that holds ": "`,
	"did not find expected key":                       `a line indented less, or otherwise, than the others at its level? keys of one mapping start in one column, and a list's "- " entries go under a key with nothing after its colon`,
	"could not find expected ':'":                     `each line of a mapping is "key: value", with a space after the colon`,
	"found a tab character that violates indentation": "indent with spaces: YAML does not take tabs",
}

// Message is err's text for a user, err being yaml's error for data: see
// the package doc, with a hint after a problem that indentation or a
// missing "key: value" likely caused. An error that is not yaml's is
// returned as it is.
func Message(err error, data []byte) string {
	msg := message(err, data)
	_, problem, ok := strings.Cut(msg, ": ")
	if !ok || !strings.HasPrefix(msg, "line ") {
		problem = msg
	}
	if h := hints[problem]; h != "" {
		return msg + " (" + h + ")"
	}
	return msg
}

// Line is Message split into the line of data it names (0 for none) and
// the rest, for a caller that names the line its own way (config's
// "FILE:LINE: what").
func Line(err error, data []byte) (int, string) {
	msg := Message(err, data)
	if m := lineMsg.FindStringSubmatch(msg); m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil {
			return n, m[2]
		}
	}
	return 0, msg
}

// message is Message without the hint.
func message(err error, data []byte) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		return strings.Join(te.Errors, "; ")
	}
	msg, ok := strings.CutPrefix(err.Error(), "yaml: ")
	if !ok {
		return err.Error()
	}
	if m := lineMsg.FindStringSubmatch(msg); m != nil && parserProblems[m[2]] {
		if n, err := strconv.Atoi(m[1]); err == nil {
			// A problem found at the end of the input (a [ never
			// closed on the last line) is at the line after the last
			// newline, which no editor shows: the last line it is.
			return "line " + strconv.Itoa(min(n+1, lines(data))) + ": " + m[2]
		}
	}
	return msg
}

// lines counts the lines of data, a last one without a newline too; at
// least 1.
func lines(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return max(n, 1)
}
