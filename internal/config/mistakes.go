package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// problems collects the mistakes of one file: one per key at most (a key
// whose value did not decode is not checked again), each with its line.
type problems struct {
	errs  []error // each a *lineError
	keys  map[string]bool
	lines map[string]int // the line of each key the file sets
}

// setLine records that the file sets key at line.
func (p *problems) setLine(key string, line int) {
	if p.lines == nil {
		p.lines = map[string]int{}
	}
	p.lines[key] = line
}

// add records a mistake that names no one key, at line (0: none).
func (p *problems) add(line int, err error) {
	if err != nil {
		p.errs = append(p.errs, atLine(line, err))
	}
}

// both records the mistake of keys a and b set together, at the line of
// the later of them.
func (p *problems) both(a, b string, err error) {
	p.add(max(p.lines[a], p.lines[b]), err)
}

// key records err as the mistake of key, at the key's line in the file
// (none when the file does not set it: its default's mistake), unless
// key has one already.
func (p *problems) key(key string, err error) {
	p.keyAt(key, p.lines[key], err)
}

// keyAt is key at a line of its own.
func (p *problems) keyAt(key string, line int, err error) {
	if err == nil || p.keys[key] {
		return
	}
	if p.keys == nil {
		p.keys = map[string]bool{}
	}
	p.keys[key] = true
	p.add(line, fmt.Errorf("key %q: %w", key, err))
}

// err is the mistakes as one error (Mistakes) in the file's order, those
// of no line last, nil for none; source names the file ("" for none).
func (p *problems) err(source string) error {
	if len(p.errs) == 0 {
		return nil
	}
	errs := slices.Clone(p.errs)
	slices.SortStableFunc(errs, func(a, b error) int {
		la, lb := lineOf(a), lineOf(b)
		if la == 0 || lb == 0 {
			return cmp.Compare(lb, la) // a line before none
		}
		return cmp.Compare(la, lb)
	})
	return &Mistakes{Source: source, Errs: errs}
}

// lineError is a mistake at a line of the file; 0 for none known (the
// mistake of a default, or of two keys that an error names together).
type lineError struct {
	line int
	err  error
}

func atLine(line int, err error) error { return &lineError{line, err} }

func (e *lineError) Error() string {
	if e.line > 0 {
		return fmt.Sprintf("line %d: %v", e.line, e.err)
	}
	return e.err.Error()
}

func (e *lineError) Unwrap() error { return e.err }

// lineOf is the line err names, 0 for none.
func lineOf(err error) int {
	var le *lineError
	if errors.As(err, &le) {
		return le.line
	}
	return 0
}

// Mistakes are every mistake found in one configuration: one is said on
// one line, "FILE:LINE: key "x": ...", as a compiler says it (FILE: alone
// when it names no line); several as a count and then one line each, each
// naming the file and the line, as add says a manifest's.
type Mistakes struct {
	Source string // the file, "" when the configuration was built in code
	Errs   []error
}

// maxMistakes bounds the lines of Mistakes: a file of up to a megabyte
// of unknown keys would otherwise be as many lines.
const maxMistakes = 20

func (m *Mistakes) Error() string {
	if len(m.Errs) == 1 {
		return m.at(m.Errs[0])
	}
	prefix := ""
	if m.Source != "" {
		prefix = m.Source + ": "
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s%d mistakes:", prefix, len(m.Errs))
	for i, err := range m.Errs {
		if i == maxMistakes {
			fmt.Fprintf(&b, "\n  %sand %d more", prefix, len(m.Errs)-maxMistakes)
			break
		}
		b.WriteString("\n  " + m.at(err))
	}
	return b.String()
}

// at is err as a line of the file: "FILE:LINE: what", or "FILE: what"
// when it names no line.
func (m *Mistakes) at(err error) string {
	var le *lineError
	switch {
	case m.Source == "":
		return err.Error()
	case errors.As(err, &le) && le.line > 0:
		return fmt.Sprintf("%s:%d: %v", m.Source, le.line, le.err)
	}
	return m.Source + ": " + err.Error()
}

func (m *Mistakes) Unwrap() []error { return m.Errs }
