package trackerclient

import (
	"errors"
	"fmt"
	"strconv"
)

// A tracker reply is read by a small bencode scanner rather than a generic
// decoder: it walks the bytes once, never recurses (nesting is counted, not
// stacked), skips what it does not need without allocating, and checks the
// type of every field it keeps. The generic decoder in the BitTorrent
// library recursed without a bound (a reply nested millions of lists deep
// overflowed the stack) and its peer-list code asserted types unchecked
// (d8:intervali30e5:peerslleee panicked every node).

// maxDepth bounds the nesting of any value in a reply. The deepest field a
// tracker sends is a peer's dictionary inside the peers list inside the
// reply (3); extensions rarely go further.
const maxDepth = 32

var errTruncated = errors.New("reply ends early")

// scanner is a cursor over one bencoded reply.
type scanner struct {
	b   []byte
	pos int
}

func (s *scanner) fail(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
}

func (s *scanner) peek() (byte, error) {
	if s.pos >= len(s.b) {
		return 0, errTruncated
	}
	return s.b[s.pos], nil
}

// kind names the type of the value at the cursor, for error messages.
func (s *scanner) kind() string {
	c, err := s.peek()
	if err != nil {
		return "nothing"
	}
	switch {
	case c == 'd':
		return "a dictionary"
	case c == 'l':
		return "a list"
	case c == 'i':
		return "an integer"
	case c >= '0' && c <= '9':
		return "a string"
	}
	return fmt.Sprintf("byte %q", c)
}

// int reads i<digits>e. Values beyond int64 are an error.
func (s *scanner) int() (int64, error) {
	if c, err := s.peek(); err != nil || c != 'i' {
		return 0, s.fail("want an integer, found %s", s.kind())
	}
	start := s.pos + 1
	end := start
	for end < len(s.b) && s.b[end] != 'e' {
		if end-start > 20 {
			return 0, s.fail("integer too long")
		}
		end++
	}
	if end >= len(s.b) {
		return 0, errTruncated
	}
	text := string(s.b[start:end])
	// BEP 3: no leading zeros, no negative zero.
	if text == "" || text == "-" || text == "-0" || (len(text) > 1 && text[0] == '0') || (len(text) > 2 && text[0] == '-' && text[1] == '0') {
		return 0, s.fail("malformed integer %q", text)
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, s.fail("malformed integer %q", text)
	}
	s.pos = end + 1
	return v, nil
}

// str reads <len>:<bytes> and returns a slice of the reply (not a copy).
func (s *scanner) str() ([]byte, error) {
	c, err := s.peek()
	if err != nil || c < '0' || c > '9' {
		return nil, s.fail("want a string, found %s", s.kind())
	}
	colon := s.pos
	for colon < len(s.b) && s.b[colon] != ':' {
		if colon-s.pos > 10 {
			return nil, s.fail("string length too long")
		}
		colon++
	}
	if colon >= len(s.b) {
		return nil, errTruncated
	}
	text := string(s.b[s.pos:colon])
	if len(text) > 1 && text[0] == '0' {
		return nil, s.fail("malformed string length %q", text)
	}
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 {
		return nil, s.fail("malformed string length %q", text)
	}
	if n > len(s.b)-colon-1 {
		return nil, errTruncated
	}
	out := s.b[colon+1 : colon+1+n]
	s.pos = colon + 1 + n
	return out, nil
}

// skip steps over one value of any type. It counts nesting instead of
// recursing, so depth costs no stack.
func (s *scanner) skip(depth int) error {
	open := 0
	for {
		c, err := s.peek()
		if err != nil {
			return err
		}
		switch {
		case c == 'd' || c == 'l':
			if depth+open >= maxDepth {
				return s.fail("nested deeper than %d", maxDepth)
			}
			open++
			s.pos++
			continue
		case c == 'e':
			if open == 0 {
				return s.fail("unexpected end marker")
			}
			open--
			s.pos++
		case c == 'i':
			if _, err := s.int(); err != nil {
				return err
			}
		case c >= '0' && c <= '9':
			if _, err := s.str(); err != nil {
				return err
			}
		default:
			return s.fail("unexpected byte %q", c)
		}
		if open == 0 {
			return nil
		}
	}
}

// dict walks the dictionary at the cursor, calling field for each key with
// the cursor on its value; field must consume the value (or skip it).
// Keys must be strings; their order is not checked (trackers in the wild
// do not all sort them).
func (s *scanner) dict(depth int, field func(key string) error) error {
	if depth >= maxDepth {
		return s.fail("nested deeper than %d", maxDepth)
	}
	if c, err := s.peek(); err != nil || c != 'd' {
		return s.fail("want a dictionary, found %s", s.kind())
	}
	s.pos++
	for {
		c, err := s.peek()
		if err != nil {
			return err
		}
		if c == 'e' {
			s.pos++
			return nil
		}
		k, err := s.str()
		if err != nil {
			return fmt.Errorf("dictionary key: %w", err)
		}
		if err := field(string(k)); err != nil {
			return err
		}
	}
}

// list walks the list at the cursor, calling elem with the cursor on each
// element; elem must consume it.
func (s *scanner) list(depth int, elem func(i int) error) error {
	if depth >= maxDepth {
		return s.fail("nested deeper than %d", maxDepth)
	}
	if c, err := s.peek(); err != nil || c != 'l' {
		return s.fail("want a list, found %s", s.kind())
	}
	s.pos++
	for i := 0; ; i++ {
		c, err := s.peek()
		if err != nil {
			return err
		}
		if c == 'e' {
			s.pos++
			return nil
		}
		if err := elem(i); err != nil {
			return err
		}
	}
}
