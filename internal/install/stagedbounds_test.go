package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/archive"
)

// TestStagedTreePastTheBounds: an install.sh that stages a tree 200 levels
// deep has its package refused, naming the package and the file, and the
// whole transaction rolled back: nothing of it or of the package installed
// with it is placed or recorded. Before, the client placed and recorded
// such a tree (only a path's length was checked), which no archive could
// carry.
func TestStagedTreePastTheBounds(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("good", "1.0.0", map[string]string{"assets/good.txt": "good"}),
		w.pkg("deep", "1.0.0", map[string]string{
			"assets/x": "x",
			"scripts/install.sh": "set -eu\nd=$DISTPAC_DESTDIR$DISTPAC_PREFIX/deep\ni=0\n" +
				"while [ $i -lt 200 ]; do d=$d/d; i=$((i+1)); done\nmkdir -p \"$d\"\necho x > \"$d/f\"\n",
		}),
	)
	err := w.client.Install(ctx, []string{"good", "deep"})
	want := "install deep 1.0.0: scan "
	wantFile := ": staged deep/" + strings.Repeat("d/", 17) + "d…(260 bytes): path 129 levels deep, more than 128"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), wantFile) {
		t.Fatalf("Install = %v\nwant %q … %q", err, want, wantFile)
	}
	for _, p := range []string{"deep", "good.txt"} {
		if _, err := os.Lstat(w.prefix(p)); !os.IsNotExist(err) {
			t.Errorf("%s placed after the refusal: %v", p, err)
		}
	}
	for _, name := range []string{"good", "deep"} {
		if _, ok := w.state().Get(name); ok {
			t.Errorf("%s recorded after the refusal", name)
		}
	}
	w.consistent()
}

// TestInstallLongPaths: a path add publishes (at most archive.MaxPathLen
// bytes in the package) is installed when it fits under the prefix and the
// staging directory, and refused with the client's own error naming the
// package and the file when it does not, nothing placed. Before, the
// client's scan failed on the second with the OS's "file name too long",
// the path quoted whole, and on the first too: it described each staged
// entry by its absolute path.
func TestInstallLongPaths(t *testing.T) {
	tests := []struct {
		name string
		len  int // of the path in the package, assets/ included
		want string
	}{
		{"fits", 3800, ""},
		{"the bound", archive.MaxPathLen, "bytes a system call takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			dir := w.pkg("long", "1.0.0", map[string]string{"assets/x": "x"})
			rel := ""
			for tt.len-len("assets/")-len(rel) > 255 {
				rel += strings.Repeat("a", 200) + "/"
			}
			rel += strings.Repeat("f", tt.len-len("assets/")-len(rel))
			mkdirChain(t, filepath.Join(dir, "assets"), rel)
			w.publish(dir)
			err := w.client.Install(ctx, []string{"long"})
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Install: %.300v", err)
				}
				w.consistent()
				return
			}
			wantStart := "install long 1.0.0: scan "
			// The first entry past the bound, a directory of the path.
			wantFile := ": staged " + strings.Repeat("a", 40) + "…("
			if err == nil || !strings.HasPrefix(err.Error(), wantStart) || !strings.Contains(err.Error(), wantFile) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Install = %.600v\nwant %q … %q … %q", err, wantStart, wantFile, tt.want)
			}
			if _, err := os.Lstat(w.prefix("x")); !os.IsNotExist(err) {
				t.Errorf("x placed after the refusal: %v", err)
			}
			w.consistent()
		})
	}
}

// mkdirChain makes the directories of rel under dir and a file at its
// end, a component at a time (rel may be longer than a system call takes).
func mkdirChain(t *testing.T, dir, rel string) {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		if err := r.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		sub, err := r.OpenRoot(p)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		r = sub
	}
	defer r.Close()
	if err := r.WriteFile(parts[len(parts)-1], []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}
