package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// lowerBounds sets the entry and path-bytes bounds for one test.
func lowerBounds(t *testing.T, entries, bytes int64) {
	t.Helper()
	oldE, oldB := maxEntries, maxPathsTotal
	maxEntries, maxPathsTotal = entries, bytes
	t.Cleanup(func() { maxEntries, maxPathsTotal = oldE, oldB })
}

// TestExtractBounds: an archive's names are held to the bounds add holds
// a package directory to, and refused before anything is made for them.
// Before, a 5,000-byte path was extracted (for install.sh's cp to fail
// on), a file 1,000 directories deep took 8.8 s to extract from an
// archive of 138 bytes, and nothing bounded the number of entries.
func TestExtractBounds(t *testing.T) {
	long := "assets/" + strings.Repeat(strings.Repeat("a", 200)+"/", 24) + "f"
	deep := "assets/" + strings.Repeat("d/", 1000) + "f"
	many := func(n int) []member {
		var ms []member
		for i := range n {
			ms = append(ms, reg(fmt.Sprintf("assets/f%d", i), ""))
		}
		return ms
	}
	tests := []struct {
		name         string
		members      []member
		entries      int64 // maxEntries for the test; 0: MaxEntries
		pathsTotal   int64 // maxPathsTotal; 0: MaxPathsTotal
		want         error
		wantMsg      string
		withinSecond bool
	}{
		{
			name: "path of 5,000 bytes", members: []member{reg(long, "x")}, want: ErrUnsafe,
			wantMsg: `extract: entry "assets/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…(4832 bytes)": path longer than 4095 bytes`,
		},
		{
			name: "name of 300 bytes", members: []member{reg("assets/"+strings.Repeat("b", 300), "x")}, want: ErrUnsafe,
			wantMsg: `extract: entry "assets/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb…(307 bytes)": name bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb…(300 bytes) longer than 255 bytes`,
		},
		{
			name: "1,000 levels", members: []member{reg(deep, "x")}, want: ErrUnsafe,
			wantMsg: "path 1002 levels deep, more than 128", withinSecond: true,
		},
		{
			name: "symlink target of 5,000 bytes", members: []member{symlink("assets/l", strings.Repeat("x/", 2500))}, want: ErrUnsafe,
			wantMsg: `entry "assets/l": symlink target longer than 4095 bytes`,
		},
		{
			name: "hardlink to a path of 5,000 bytes", members: []member{reg("a", "x"), hardlink("h", long)}, want: ErrUnsafe,
			wantMsg: `entry "h": hardlink to`,
		},
		{
			// assets/, made for the first file, is the first of the 7.
			name: "more entries than the bound", members: many(10), entries: 6, want: ErrTooLarge,
			wantMsg: `entry "assets/f5": more than 6 files, directories and symlinks`,
		},
		{
			// Directories made for a deeper entry count too.
			name: "implicit directories count", members: []member{reg("a/b/c/d/e/f/g", "")}, entries: 6, want: ErrTooLarge,
			wantMsg: `entry "a/b/c/d/e/f/g": more than 6`,
		},
		{
			name: "more path bytes than the bound", members: many(10), pathsTotal: 60, want: ErrTooLarge,
			wantMsg: `entry "assets/f6": paths of more than 60 bytes in all`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lowerBounds(t, cmpOr(tt.entries, MaxEntries), cmpOr(tt.pathsTotal, MaxPathsTotal))
			parent := t.TempDir()
			dest := filepath.Join(parent, "dest")
			data := compress(t, tarBytes(t, tt.members))
			start := time.Now()
			err := Extract(context.Background(), bytes.NewReader(data), dest, 0)
			if took := time.Since(start); tt.withinSecond && took > time.Second {
				t.Errorf("took %v", took)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error = %v, want errors.Is %v", err, tt.want)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.wantMsg)
			}
			assertConfined(t, parent, dest)
			assertEmptyOrAbsent(t, dest)
		})
	}
}

func cmpOr(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// TestExtractAtTheBounds: what add accepts, the client extracts: a path
// of MaxPathLen bytes, a name of MaxNameLen, MaxDepth levels.
func TestExtractAtTheBounds(t *testing.T) {
	name255 := strings.Repeat("n", MaxNameLen)
	atLen := "assets/" + strings.Repeat(name255+"/", 15) + strings.Repeat("m", 92) + "/" + strings.Repeat("z", 155)
	if len(atLen) != MaxPathLen {
		t.Fatalf("test path of %d bytes", len(atLen))
	}
	deep := "assets/" + strings.Repeat("d/", MaxDepth-2) + "f"
	data := compress(t, tarBytes(t, []member{reg(atLen, "x"), reg(deep, "y")}))
	if err := Extract(context.Background(), bytes.NewReader(data), filepath.Join(t.TempDir(), "dest"), 0); err != nil {
		t.Fatal(err)
	}
}

// TestScanListsEveryProblem: Scan reports all it finds, at most
// MaxProblems and a count of the rest, where it stopped at the first.
func TestScanListsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{
		{path: "manifest.yaml", perm: 0o644},
		{path: "assets/abs", link: "/etc"},
		{path: "assets/up", link: ".."},
		{path: "assets/ok", content: "x", perm: 0o644},
		{path: "assets/new\nline", content: "x", perm: 0o644},
	})
	_, err := Scan(dir)
	want := strings.Join([]string{
		`assets/abs: symlink to "/etc" is absolute, so it escapes the package`,
		`assets/up: symlink to ".." leads out of assets/, which is installed as the prefix: it would point outside the prefix (a link in assets/ must stay inside assets/)`,
		`"assets/new\nline": name contains the control character '\n'`,
	}, "\n")
	// The walk's order: by name within a directory.
	if err == nil || sortedLines(err.Error()) != sortedLines(want) {
		t.Fatalf("Scan error:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("errors.Is(err, ErrUnsafe) = false")
	}

	for i := range MaxProblems + 3 {
		writeTree(t, dir, []node{{path: fmt.Sprintf("assets/l%02d", i), link: "/"}})
	}
	_, err = Scan(dir)
	p := AsProblems(err)
	if len(p.Errs) != MaxProblems || p.More != 6 || !strings.HasSuffix(err.Error(), "\nand 6 more problems") {
		t.Errorf("%d problems and %d more (%v); want %d and 6", len(p.Errs), p.More, err, MaxProblems)
	}
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestScanBounds: a tree of more entries than the bound is refused, and
// the walk stops there; Write refuses such a list too (the last line of
// defence).
func TestScanBounds(t *testing.T) {
	lowerBounds(t, 5, MaxPathsTotal)
	dir := t.TempDir()
	var nodes []node
	for i := range 10 {
		nodes = append(nodes, node{path: fmt.Sprintf("assets/f%d", i), perm: 0o644})
	}
	writeTree(t, dir, nodes)
	_, err := Scan(dir)
	if !errors.Is(err, ErrTooLarge) || err.Error() != "more than 5 files, directories and symlinks: archive content too large" {
		t.Errorf("Scan error = %v", err)
	}
	var entries []Entry
	for i := range 6 {
		entries = append(entries, Entry{Path: fmt.Sprintf("f%d", i), Mode: 0o644})
	}
	if _, err := Write(io.Discard, dir, entries); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write error = %v, want ErrTooLarge", err)
	}
}

// TestScanDoesNotDescendPastABound: the directory past MaxDepth is
// reported once, and not walked (a tree 1,000 deep is one problem).
func TestScanDoesNotDescendPastABound(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, []node{{path: "manifest.yaml", perm: 0o644}})
	p := filepath.Join(dir, "assets")
	for range 300 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Scan(dir)
	if pr := AsProblems(err); len(pr.Errs) != 1 || pr.More != 0 || !strings.HasSuffix(err.Error(), "path 129 levels deep, more than 128") {
		t.Errorf("Scan error = %v", err)
	}
	var ee *entryError
	if !errors.As(err, &ee) || !strings.HasPrefix(ee.path, "assets/d/d/") {
		t.Errorf("error %v does not name the directory", err)
	}
}

// TestProblemsError: the one way add and Scan list problems: one a line,
// then the count of those past MaxProblems, after the directory when it is
// known (add lists several directories' problems one after the other).
func TestProblemsError(t *testing.T) {
	many := func(dir string, n int) *Problems {
		p := &Problems{Dir: dir}
		for i := range n {
			p.Add(fmt.Errorf("f%02d: bad", i))
		}
		return p
	}
	lines := func(n int) []string {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprintf("f%02d: bad", i))
		}
		return l
	}
	tests := []struct {
		name string
		p    *Problems
		want []string
	}{
		{"one", many("", 1), lines(1)},
		{"at the bound", many("", MaxProblems), lines(MaxProblems)},
		{"one past", many("", MaxProblems+1), append(lines(MaxProblems), "and 1 more problem")},
		{"five past, of a directory", many("pkg/hello", MaxProblems+5), append(lines(MaxProblems), "pkg/hello: and 5 more problems")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("Error() =\n%s\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
			if tt.p.Err() == nil {
				t.Error("Err() = nil with problems")
			}
		})
	}
	if err := (&Problems{Dir: "d"}).Err(); err != nil {
		t.Errorf("Err() of no problems = %v", err)
	}
}
