package stage

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/archive"
)

// TestBuildHoldsTheBounds: the tree install.sh stages is held to the
// bounds of a package (archive.TreeBounds), through the real scan, with an
// error naming the file. Before, only a path's length was checked: a
// script's tree 200 levels deep, or of any number of files, was staged
// for the client to place and record, which no archive could carry.
func TestBuildHoldsTheBounds(t *testing.T) {
	tests := []struct {
		name   string
		script string
		bounds archive.TreeBounds
		want   string // in the error, after "staged FILE" (readdir's order)
		kind   error
	}{
		{
			name:   "200 levels",
			script: `d=$DISTPAC_DESTDIR$DISTPAC_PREFIX/deep; i=0; while [ $i -lt 200 ]; do d=$d/d; i=$((i+1)); done; mkdir -p "$d"; echo x > "$d/f"`,
			want:   "staged deep/" + strings.Repeat("d/", 17) + "d…(260 bytes): path 129 levels deep, more than 128",
			kind:   archive.ErrUnsafe,
		},
		{
			name:   "128 levels",
			script: `d=$DISTPAC_DESTDIR$DISTPAC_PREFIX/deep; i=0; while [ $i -lt 126 ]; do d=$d/d; i=$((i+1)); done; mkdir -p "$d"; echo x > "$d/f"`,
		},
		{
			// A name no archive may hold: an escape in it reached the
			// terminal of whoever listed the package's files.
			name:   "an escape in a name",
			script: `d=$DISTPAC_DESTDIR$DISTPAC_PREFIX; mkdir -p "$d"; echo x > "$d/$(printf 'a\033[2Jb')"`,
			want:   `"a\x1b[2Jb": name contains the control character '\x1b'`,
			kind:   archive.ErrUnsafe,
		},
		{
			name:   "more entries than the bound",
			script: `d=$DISTPAC_DESTDIR$DISTPAC_PREFIX; mkdir -p "$d"; for f in a b c d e f g; do echo x > "$d/$f"; done`,
			bounds: archive.TreeBounds{MaxEntries: 5},
			want:   ": the staged tree holds more than 5 files, directories and symlinks, more than a package may hold",
			kind:   archive.ErrTooLarge,
		},
		{
			name:   "more path bytes than the bound",
			script: `d=$DISTPAC_DESTDIR$DISTPAC_PREFIX; mkdir -p "$d"; for f in aaaa bbbb cccc; do echo x > "$d/$f"; done`,
			bounds: archive.TreeBounds{MaxPathsTotal: 10},
			want:   ": the staged tree holds paths of more than 10 bytes in all, more than a package may hold",
			kind:   archive.ErrTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := pkg(t, map[string]string{"manifest.yaml": "version: 1.0.0\n", "scripts/install.sh": "set -eu\n" + tt.script + "\n"})
			o := Options{Name: "p", Version: "1.0.0", Prefix: filepath.Join(t.TempDir(), "prefix"), Bounds: tt.bounds}
			tree, err := Build(context.Background(), dir, t.TempDir(), o)
			if tt.want == "" {
				if err != nil || len(tree.Files) != 128 {
					t.Fatalf("Build = %d files, %v; want 128", len(tree.Files), err)
				}
				return
			}
			// A staged tree is no archive: ErrTooLarge's own text
			// ("archive content too large") is not said of it.
			if err == nil || !strings.Contains(err.Error(), ": staged ") || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.kind) || strings.Contains(err.Error(), "archive") {
				t.Fatalf("Build = %v\nwant an error with %q, matching %v", err, tt.want, tt.kind)
			}
		})
	}
}
