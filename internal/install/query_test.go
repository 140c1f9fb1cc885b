package install

import (
	"context"
	"os"
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
	v, err := w.client.Verify(ctx, []string{"tool"})
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Files != 1 || v[0].Symlinks != 1 || v[0].Directories != 2 || len(v[0].Problems) != 1 {
		t.Fatalf("Verify = %+v, want 1 file, 1 symlink, 2 directories, 1 problem", v)
	}
}
