package archive

import (
	"cmp"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of a package tree: the one set that dist-server add (Scan, Write)
// and the client's extraction (Extract) both hold, so that what add
// publishes, every client can unpack. A path is a member's name relative to
// the package's root ("assets/bin/tool").
const (
	// MaxPathLen is the longest path a system call takes: Linux's PATH_MAX
	// (4096) counts the terminating NUL. A longer path no tool can name
	// from the prefix, not even relative to it (install.sh's cp), though
	// the client's extraction, walking it a component at a time, made one
	// of 5,000 bytes. At 4096 bytes, add's check passed and its scan then
	// failed with the OS's "file name too long", the path quoted whole;
	// Scan now opens each entry from its directory's descriptor, so any
	// path within the bound is scanned wherever the package lies.
	MaxPathLen = 4095
	// MaxNameLen is NAME_MAX, the longest name of one component on Linux
	// file systems.
	MaxNameLen = 255
	// MaxDepth bounds the components of a path. Real trees stay far below
	// it (npm's old nested node_modules, two components a level, were the
	// deepest ones seen, at a few dozen). The extractor's work on an entry
	// in another directory than the last grows with the distance between
	// the two, up to their depth (dirs.go): one file 1,000 directories
	// deep, an archive of 138 bytes, took 8.8 s to extract when each entry
	// walked from the root, and 20,000 files 1,500 deep (82 KB) 3 min 42 s.
	MaxDepth = 128
	// MaxEntries bounds the files, directories and symlinks of a package
	// (directories made implicitly by an extraction count too). Empty
	// files compress to a few bytes each, so the archive's size does not
	// bound them; 1,000,000 is ten times the largest real packages
	// (texlive's, node_modules bundles).
	MaxEntries = 1_000_000
	// MaxPathsTotal bounds the sum of the lengths of a package's paths:
	// the extractor keeps every name to check the next entries against
	// (and add its list of entries), and MaxEntries paths of MaxPathLen
	// would be 4 GB of them. A real package's average path is under 100
	// bytes: a million of them fit four times over.
	MaxPathsTotal = 400 << 20
	// MaxProblems bounds the problems Scan lists of one tree; past it,
	// it counts them. A tree of 100,000 bad files would otherwise be
	// megabytes of errors.
	MaxProblems = 20
)

// checkBounds says which bound a name's components (non-empty) exceed,
// "" when none: MaxDepth, MaxNameLen. cleanName checks MaxPathLen first.
func checkBounds(parts []string) string {
	if len(parts) > MaxDepth {
		return fmt.Sprintf("path %d levels deep, more than %d", len(parts), MaxDepth)
	}
	for _, p := range parts {
		if len(p) > MaxNameLen {
			return fmt.Sprintf("name %s longer than %d bytes", showName(p), MaxNameLen)
		}
	}
	return ""
}

// shortLen is the longest name shortName shows whole; of a longer one it
// shows the first shortHead bytes and the length.
const (
	shortLen  = 100
	shortHead = 40
)

// shortName is name as an error message shows it: whole when short, else
// its start and its length ("assets/aaaa…(5000 bytes)"), so that a path of
// thousands of bytes does not fill the terminal. It cuts between runes.
func shortName(name string) string {
	if len(name) <= shortLen {
		return name
	}
	cut := shortHead
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", name[:cut], len(name))
}

// showName is shortName, quoted when the name holds a control character
// or bytes that are not UTF-8: those must not reach the terminal raw.
func showName(name string) string {
	if strings.IndexFunc(name, isControl) >= 0 {
		return strconv.Quote(shortName(name))
	}
	return shortName(name)
}

// Problems is every problem found in a tree, each an error naming its
// path: at most MaxProblems of them, and a count of the rest. A publisher
// fixes them all before the next add, not one per run. Scan's name paths
// relative to the root; add's (pkgdir) name the package directory.
type Problems struct {
	// Dir, when set, names the directory on the line that counts the
	// problems past MaxProblems ("DIR: and 5 more problems"): add lists
	// the problems of several directories one after the other.
	Dir  string
	Errs []error
	More int
}

func (p *Problems) Error() string {
	msgs := make([]string, len(p.Errs), len(p.Errs)+1)
	for i, e := range p.Errs {
		msgs[i] = e.Error()
	}
	if p.More > 0 {
		more := fmt.Sprintf("and %d more problems", p.More)
		if p.More == 1 {
			more = "and 1 more problem"
		}
		if p.Dir != "" {
			more = p.Dir + ": " + more
		}
		msgs = append(msgs, more)
	}
	return strings.Join(msgs, "\n")
}

func (p *Problems) Unwrap() []error { return p.Errs }

// Add records err, or counts it once MaxProblems are recorded.
func (p *Problems) Add(err error) {
	if len(p.Errs) >= MaxProblems {
		p.More++
		return
	}
	p.Errs = append(p.Errs, err)
}

// Err is p, or nil when it holds no problem.
func (p *Problems) Err() error {
	if len(p.Errs) == 0 && p.More == 0 {
		return nil
	}
	return p
}

// tally counts the entries of a tree and their paths' bytes against
// MaxEntries and MaxPathsTotal, or the lower bounds it is given.
type tally struct{ entries, bytes, maxEntries, maxBytes int64 }

// The bounds tally holds trees to: variables only so that a test can
// lower them (a million entries take a minute to extract).
var maxEntries, maxPathsTotal int64 = MaxEntries, MaxPathsTotal

// add counts one more entry of the tree, at path name: an error once the
// tree exceeds a bound.
func (t *tally) add(name string) error {
	if over := t.over(name); over != "" {
		return fmt.Errorf("%s: %w", over, ErrTooLarge)
	}
	return nil
}

// over counts one more entry of the tree, at path name, and says what the
// tree holds past a bound ("more than 5 files, directories and
// symlinks"), "" while it holds none.
func (t *tally) over(name string) string {
	t.entries++
	t.bytes += int64(len(name))
	limE, limB := cmp.Or(t.maxEntries, maxEntries), cmp.Or(t.maxBytes, maxPathsTotal)
	switch {
	case t.entries > limE:
		return fmt.Sprintf("more than %d files, directories and symlinks", limE)
	case t.bytes > limB:
		return fmt.Sprintf("paths of more than %d bytes in all", limB)
	}
	return ""
}

// TreeBounds holds a tree that no archive carried to the bounds of a
// package: the client's staged tree, which a package's install.sh makes,
// so that no script has the client place a tree its archive could never
// hold (a million files, a path 1,000 levels deep). The zero TreeBounds
// holds MaxEntries and MaxPathsTotal; a test sets lower ones.
type TreeBounds struct {
	MaxEntries, MaxPathsTotal int64 // 0: the package's bound
	// Under is the longest directory the tree lies in or is placed under
	// (the client's staging, the prefix), "" for none: joined under it,
	// a path must still be one a system call takes, or placing it fails
	// with the OS's "file name too long".
	Under string
	// Placed is the directory the tree is placed under (the prefix), ""
	// for none, and Aside the room (in bytes) a path's directory under
	// it must leave for the name its entry is set aside under, beside
	// it, when an upgrade or a removal takes it away (the client's
	// state.MaxAsideName): without it, a file could be installed and
	// then neither upgraded nor removed.
	Placed string
	Aside  int
	count  tally
}

// Check counts name, the clean relative path of one more entry of the
// tree, and checks it and the tree against the rules of an archive's
// names (cleanName: no control character, within MaxPathLen, MaxNameLen
// and MaxDepth) and the entries and path bytes so far. Its error
// names the path (shortened) and matches ErrUnsafe or ErrTooLarge.
func (b *TreeBounds) Check(name string) error {
	b.count.maxEntries, b.count.maxBytes = b.MaxEntries, b.MaxPathsTotal
	// In the staged tree's words: ErrTooLarge's own ("archive content
	// too large") read oddly of a tree install.sh made, which no archive
	// held.
	if over := b.count.over(name); over != "" {
		return &entryError{path: showName(name), msg: "the staged tree holds " + over + ", more than a package may hold", kind: ErrTooLarge}
	}
	msg := ""
	if _, err := cleanName(name); err != nil {
		msg = err.Error()
	} else if n := len(b.Under) + 1 + len(name); b.Under != "" && n > MaxPathLen {
		msg = fmt.Sprintf("path of %d bytes under %s, longer than the %d bytes a system call takes", n, showName(b.Under), MaxPathLen)
	} else if n, base := len(b.Placed)+1+len(name), len(path.Base(name)); b.Placed != "" && n-base+max(base, b.Aside) > MaxPathLen {
		msg = fmt.Sprintf("path of %d bytes under %s leaves no room beside it for the %d-byte name it is set aside under when upgraded or removed (a system call takes %d bytes)",
			n, showName(b.Placed), b.Aside, MaxPathLen)
	}
	if msg != "" {
		return &entryError{path: showName(name), msg: msg, kind: ErrUnsafe}
	}
	return nil
}

// AsProblems returns err's problems: those of a *Problems, or err itself.
func AsProblems(err error) *Problems {
	if p, ok := errors.AsType[*Problems](err); ok {
		return p
	}
	return &Problems{Errs: []error{err}}
}
