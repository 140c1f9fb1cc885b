package place

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A move never replaces what is at its destination, file or directory:
// the destination is left as it was, the source stays, and the error says
// the destination appeared.
func TestRenameNoReplace(t *testing.T) {
	tests := []struct {
		name    string
		makeDst func(dst string) error
		wantErr error
	}{
		{"free", func(string) error { return nil }, nil},
		{"a file there", func(dst string) error { return os.WriteFile(dst, []byte("theirs"), 0o644) }, errAppeared},
		{"an empty directory there", func(dst string) error { return os.Mkdir(dst, 0o755) }, errAppeared},
		{"a dangling symlink there", func(dst string) error { return os.Symlink("nowhere", dst) }, errAppeared},
	}
	moves := []struct {
		name string
		move func(src, dst string) error
	}{{"renameNoReplace", renameNoReplace}, {"checkAndRename", checkAndRename}}
	for _, m := range moves {
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
				if err := os.WriteFile(src, []byte("ours"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := tt.makeDst(dst); err != nil {
					t.Fatal(err)
				}
				before, _ := os.Lstat(dst)
				err := m.move(src, dst)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s = %v, want %v", m.name, err, tt.wantErr)
				}
				if tt.wantErr == nil {
					if b, err := os.ReadFile(dst); err != nil || string(b) != "ours" {
						t.Errorf("dst after the move: %q, %v", b, err)
					}
					return
				}
				after, err := os.Lstat(dst)
				if err != nil || !os.SameFile(before, after) {
					t.Errorf("dst replaced: %v", err)
				}
				if _, err := os.Stat(src); err != nil {
					t.Errorf("src gone after a refused move: %v", err)
				}
			})
		}
	}
}
