package install

import (
	"context"
	"os"
	"strings"
	"testing"
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
