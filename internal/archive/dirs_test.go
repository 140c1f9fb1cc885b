package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countDirOpens counts the directories the extractor opens until the test
// ends.
func countDirOpens(t *testing.T) *int {
	t.Helper()
	n := new(int)
	dirOpened = func() { *n++ }
	t.Cleanup(func() { dirOpened = nil })
	return n
}

// alternating is files entries alternating between the directories
// prefix+a and prefix+b.
func alternating(prefix, a, b string, files int) []member {
	ms := make([]member, files)
	for i := range files {
		d := a
		if i%2 == 1 {
			d = b
		}
		ms[i] = reg(fmt.Sprintf("%s%s/f%d", prefix, d, i), "x")
	}
	return ms
}

// eachWayOfOpening runs f with openat2 (skipped where the system has
// none) and with the chain opening a level at a time.
func eachWayOfOpening(t *testing.T, f func(t *testing.T, perLevel bool)) {
	for _, perLevel := range []bool{false, true} {
		t.Run(map[bool]string{false: "openat2", true: "a level at a time"}[perLevel], func(t *testing.T) {
			old := noOpenat2.Load()
			t.Cleanup(func() { noOpenat2.Store(old) })
			if perLevel {
				noOpenat2.Store(true)
			}
			f(t, perLevel)
			if !perLevel && noOpenat2.Load() {
				t.Skip("no openat2 on this system")
			}
		})
	}
}

// TestExtractOpensByDistance: an entry in another directory than the
// last one costs the directories between the two, not its depth. Before,
// each change of directory walked down from the destination (os.Root),
// an open a level, and so did making a directory, twice (mkdir, chmod):
// 100 files alternating between two sibling directories 126 levels deep
// opened 28,600 directories (12,600 for the changes), an ordinary package
// 401. Now each directory is opened once when it is made, and once more
// each time an entry comes back to it from a sibling; the levels below
// the common ancestor are opened in one openat2 where there is one.
func TestExtractOpensByDistance(t *testing.T) {
	deep := "assets/" + strings.Repeat("d/", MaxDepth-4) // 125 levels
	branch := strings.Repeat("d/", MaxDepth-5) + "x"     // 124 levels
	tests := []struct {
		name     string
		members  []member
		want     int // with openat2
		perLevel int // an openat a level
	}{
		{
			// 126 made, then one open a change but the first (y, made).
			name:    "siblings at the depth bound",
			members: alternating(deep, "x", "y", 100),
			want:    126 + 1 + 98, perLevel: 126 + 1 + 98,
		},
		{
			// x/1 and y/2 two levels under their common parent: two opens
			// a change back, or one openat2.
			name:    "cousins at the depth bound",
			members: alternating(deep[:len(deep)-2], "x/1", "y/2", 100),
			want:    124 + 2 + 2 + 98, perLevel: 124 + 2 + 2 + 2*98,
		},
		{
			// Parted below assets/: 125 levels to open at each change.
			name:    "branches at the depth bound",
			members: alternating("assets/", "a/"+branch, "b/"+branch, 100),
			want:    1 + 125 + 125 + 98, perLevel: 1 + 125 + 125 + 125*98,
		},
		{
			// a/b/c/d again in one openat2 from the top, then its
			// ancestor a/b, not open on its own: one more.
			name: "back up to a level reached in one openat2",
			members: []member{
				reg("a/b/c/d/f1", "x"), reg("e/f2", "x"), reg("a/b/c/d/f3", "x"), reg("a/b/f4", "x"),
			},
			want: 4 + 1 + 1 + 1, perLevel: 4 + 1 + 4,
		},
		{
			// Every directory opened once, when made: assets, its 100
			// directories, scripts.
			name:    "an ordinary package",
			members: packageMembers(1000),
			want:    102, perLevel: 102,
		},
		{
			name: "directory entries, symlinks and a hardlink",
			members: []member{
				dir("a/"), dir("a/b/"), reg("a/b/f", "x"), symlink("a/b/l", "f"),
				dir("a/c/"), hardlink("a/c/h", "a/b/f"), symlink("a/c/l", "../b/f"), reg("top", "y"),
			},
			want: 3, perLevel: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := compress(t, tarBytes(t, tt.members))
			eachWayOfOpening(t, func(t *testing.T, perLevel bool) {
				opens := countDirOpens(t)
				dest := filepath.Join(t.TempDir(), "dest")
				if err := Extract(context.Background(), bytes.NewReader(data), dest, 0); err != nil {
					t.Fatal(err)
				}
				if want := map[bool]int{false: tt.want, true: tt.perLevel}[perLevel]; *opens != want {
					t.Errorf("%d directories opened for %d entries, want %d", *opens, len(tt.members), want)
				}
				for _, m := range tt.members {
					if _, err := os.Lstat(filepath.Join(dest, filepath.FromSlash(m.hdr.Name))); err != nil {
						t.Errorf("entry %s: %v", m.hdr.Name, err)
					}
				}
			})
		})
	}
}

// openFDs is how many descriptors the process has open.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// TestExtractDescriptorsBounded: an extraction holds at most the chain
// (MaxDepth+1) and the directories its writers may still write in
// (maxOpenDirs), and closes all of them when it ends, whether it succeeds
// or fails halfway down a deep tree with files still queued.
func TestExtractDescriptorsBounded(t *testing.T) {
	deep := "assets/" + strings.Repeat("d/", MaxDepth-4)
	// Files in 2×maxOpenDirs siblings deep down, each left with files
	// queued: the directories left wait for the writers to drain.
	var many []member
	for i := range 4 * maxOpenDirs {
		many = append(many, reg(fmt.Sprintf("%ss%03d/f%d", deep, i%(2*maxOpenDirs), i), "x"))
	}
	tests := []struct {
		name    string
		members []member
		wantErr error
	}{
		{"many deep directories", many, nil},
		{"a duplicate deep down", append(many[:300:300], reg(deep+"s001/f1", "again")), ErrUnsafe},
		{"a path through a file deep down", append(many[:300:300], reg(deep+"s001/f1/g", "x")), ErrUnsafe},
		{"a symlink in the way", append(many[:300:300], symlink(deep+"s400", "."), reg(deep+"s400/f", "x")), ErrUnsafe},
	}
	warm := filepath.Join(t.TempDir(), "warm") // the runtime's own descriptors (poller) first
	if err := Extract(context.Background(), bytes.NewReader(compress(t, tarBytes(t, many[:100]))), warm, 0); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eachWayOfOpening(t, func(t *testing.T, _ bool) {
				before := openFDs(t)
				peak := 0
				dirOpened = func() { peak = max(peak, openFDs(t)) }
				t.Cleanup(func() { dirOpened = nil })
				dest := filepath.Join(t.TempDir(), "dest")
				err := Extract(context.Background(), bytes.NewReader(compress(t, tarBytes(t, tt.members))), dest, 0)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Extract: %v, want %v", err, tt.wantErr)
				}
				t.Logf("before %d peak %d", before, peak)
				if after := openFDs(t); after != before {
					t.Errorf("%d descriptors open after the extraction, %d before", after, before)
				}
				// The writers' files and the extraction's own: a few more.
				if bound := before + MaxDepth + 1 + maxOpenDirs + 8; peak > bound {
					t.Errorf("%d descriptors open during the extraction, more than %d", peak, bound)
				}
			})
		})
	}
}
