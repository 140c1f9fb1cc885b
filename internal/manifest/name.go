package manifest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// MaxNameLen is the longest package name in bytes (DESIGN.md §3).
const MaxNameLen = 128

// NameError says why a package name is invalid.
type NameError struct {
	Name   string
	Reason string // e.g. `contains whitespace`
}

func (e *NameError) Error() string {
	return fmt.Sprintf("name %s %s", quoteShort(e.Name), e.Reason)
}

// ValidateName checks a package name: ASCII letters, digits and ". _ + -",
// starting with a letter or digit, 1 to MaxNameLen bytes. The error is a
// *NameError that says what is wrong.
func ValidateName(name string) error {
	bad := func(format string, args ...any) error {
		return &NameError{Name: name, Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case name == "":
		return bad("is empty")
	case len(name) > MaxNameLen:
		return bad("is %d bytes, at most %d", len(name), MaxNameLen)
	case name == "." || name == "..":
		return bad("is not allowed")
	}
	// Report the most telling problem first: whitespace and "/" are the
	// mistakes DESIGN.md calls out, and control characters would garble any
	// terminal that printed the name.
	if !utf8.ValidString(name) {
		return bad("is not valid UTF-8")
	}
	if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return bad("contains whitespace")
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return bad("contains control character %U", r)
	}
	if strings.Contains(name, "/") {
		return bad(`contains "/"`)
	}
	for _, r := range name {
		if !nameChar(r) {
			return bad("contains %q (allowed: ASCII letters, digits and . _ + -)", string(r))
		}
	}
	if c := rune(name[0]); !isAlnum(c) {
		return bad("must not start with %q (start with a letter or digit)", string(c))
	}
	return nil
}

// NameKey is the key under which names must be unique: DESIGN.md §3 says
// names are unique ignoring case. Valid names are ASCII, so ToLower is a
// full case fold for them.
func NameKey(name string) string {
	return strings.ToLower(name)
}

// DefaultName is the name a package gets when its manifest has none: the
// directory's base name with a trailing "-<version>" removed, where version
// is strict SemVer ("foo-1.2.3" and "foo-1.0.0-rc.1" give "foo", "foo-bar"
// stays "foo-bar"). The result is not validated.
func DefaultName(dirName string) string {
	name, _, _ := SplitDirName(dirName)
	return name
}

// SplitDirName splits a package directory's base name into the name and
// the version DefaultName reads from it: "foo-1.2.3" gives "foo", "1.2.3",
// true; a name without a strict SemVer suffix gives itself, "", false.
func SplitDirName(dirName string) (name, version string, ok bool) {
	// The version may itself contain "-" (a pre-release), so try each "-"
	// that is followed by a digit, leftmost first, and strip at the first one
	// whose remainder is a whole version.
	for i := 1; i < len(dirName)-1; i++ {
		if dirName[i] != '-' || !isDigit(rune(dirName[i+1])) {
			continue
		}
		if _, err := semver.StrictNewVersion(dirName[i+1:]); err == nil {
			return dirName[:i], dirName[i+1:], true
		}
	}
	return dirName, "", false
}

func nameChar(r rune) bool {
	return isAlnum(r) || r == '.' || r == '_' || r == '+' || r == '-'
}

func isAlnum(r rune) bool {
	return isDigit(r) || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z')
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// quoteShort quotes s for an error message, cutting it so that a 10 kB
// name does not become a 10 kB error line.
func quoteShort(s string) string {
	const limit = 40
	if len(s) <= limit {
		return fmt.Sprintf("%q", s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}
