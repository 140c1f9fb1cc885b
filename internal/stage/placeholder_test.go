package stage

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// An empty .keep or .gitkeep directly in assets/ (git keeps no empty
// directory; the README suggests one) is not installed with the assets
// tree: it was, as PREFIX/.keep, and a second such package failed ".keep
// is owned by ...". One with content, deeper in the tree, or staged by an
// install.sh is the package's and stays.
func TestBuildLeavesOutPlaceholders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"empty assets/", map[string]string{"assets/.keep": ""}, nil},
		{".gitkeep beside content", map[string]string{"assets/.gitkeep": "", "assets/bin/tool": "x"}, []string{"bin", "bin/tool"}},
		{"with content", map[string]string{"assets/.keep": "keep me"}, []string{".keep"}},
		{"deeper in the tree", map[string]string{"assets/var/log/.keep": ""}, []string{"var", "var/log", "var/log/.keep"}},
		{"staged by install.sh", map[string]string{"assets/.keep": "", "scripts/install.sh": `mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX" && cp "$DISTPAC_ASSETS/.keep" "$DISTPAC_DESTDIR$DISTPAC_PREFIX/"`}, []string{".keep"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.files["manifest.yaml"] = "version: 1.0.0\n"
			dir := pkg(t, tc.files)
			prefix := filepath.Join(t.TempDir(), "prefix")
			tree, err := Build(context.Background(), dir, t.TempDir(), Options{Name: "meta", Version: "1.0.0", Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			if got := paths(tree.Files); !slices.Equal(got, tc.want) {
				t.Errorf("files = %q, want %q", got, tc.want)
			}
		})
	}
}
