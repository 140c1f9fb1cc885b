package archive

import (
	"strings"
	"testing"
)

// TestLinkProblem is the one rule for symlinks, of add and of install: a
// link under assets/ stays inside assets/ (the tree installed as the
// prefix), any other inside the package; ".." only as leading components.
// Before, a link under assets/ was counted from the package's root, so
// assets/home -> .. and assets/bin/run -> ../../scripts/run passed, and
// led outside the prefix once installed.
func TestLinkProblem(t *testing.T) {
	for _, tt := range []struct {
		name, target string
		want         string // substring of the problem; "" for none
	}{
		{"assets/bin/tool2", "tool", ""},
		{"assets/bin/tool2", "./tool", ""},
		{"assets/lib/x", "../share/x", ""},
		{"assets/a/b/c", "../../d", ""},
		{"assets/a/b/c", "../../../d", "leads out of assets/"},
		{"assets/home", "..", `symlink to ".." leads out of assets/, which is installed as the prefix`},
		{"assets/m", "../manifest.yaml", "leads out of assets/"},
		{"assets/bin/run", "../../scripts/run", "leads out of assets/"},
		{"assets/x", "./../y", "leads out of assets/"},
		{"assets/x", "b/../..", `has ".." after a name`},
		{"assets/x", "/etc/passwd", "is absolute, so it escapes the package"},
		{"scripts/run", "../assets/bin/run", ""},
		{"scripts/lib/helper", "../../manifest.yaml", ""},
		{"scripts/x", "../../etc", `symlink to "../../etc" escapes the package`},
		{"assetsx/y", "..", ""}, // not assets/: counted from the root
		{"link", "assets", ""},
		{"link", "..", "escapes the package"},
		{"assets/x", "", "empty target"},
	} {
		got := linkProblem(tt.name, tt.target, "the package")
		if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("linkProblem(%q, %q) = %q, want %q", tt.name, tt.target, got, tt.want)
		}
	}
}
