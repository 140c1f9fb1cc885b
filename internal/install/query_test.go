package install

import (
	"context"
	"os"
	"slices"
	"testing"
)

// TestVerifyCountsByType: verify counts a package's files, symlinks and
// directories apart, and its problems over all of them. Before, Files was
// every recorded path: "4 files" for one file, one symlink and two
// directories.
func TestVerifyCountsByType(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("tool", "1.0.0", map[string]string{"assets/share/tool/data": "d", "assets/share/tool/link": "-> data"}))
	if err := w.client.Install(ctx, []string{"tool"}); err != nil {
		t.Fatal(err)
	}
	os.Remove(w.prefix("share", "tool", "link"))
	v, err := w.read().Verify(ctx, []string{"tool"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Files != 1 || v[0].Symlinks != 1 || v[0].Directories != 2 || len(v[0].Problems) != 1 {
		t.Fatalf("Verify = %+v, want 1 file, 1 symlink, 2 directories, 1 problem", v)
	}
}

// TestOwnersOfSharedDirectory: a directory two packages place is owned by
// both, by name, also asked through a symlinked directory; a file in it
// by its one package (owner named only the first of a shared directory).
func TestOwnersOfSharedDirectory(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("docb", "2.0.0", map[string]string{"assets/share/doc/docb/README": "b"}),
		w.pkg("doca", "1.0.0", map[string]string{"assets/share/doc/doca/README": "a"}))
	if err := w.client.Install(ctx, []string{"docb", "doca"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("share", w.prefix("link")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{w.prefix("share", "doc"), []string{"doca 1.0.0", "docb 2.0.0"}},
		{w.prefix("share"), []string{"doca 1.0.0", "docb 2.0.0"}},
		{w.prefix("link", "doc"), []string{"doca 1.0.0", "docb 2.0.0"}},
		{w.prefix("share", "doc", "docb"), []string{"docb 2.0.0"}},
		{w.prefix("share", "doc", "docb", "README"), []string{"docb 2.0.0"}},
	} {
		_, owners, err := w.read().Owners(ctx, tt.path)
		var got []string
		for _, o := range owners {
			got = append(got, o.Name+" "+o.Version)
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("Owners(%s) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}
