package pkgdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The mistakes a newcomer's package directory had, each caught at add
// with what to do, instead of published and found at install (or never).
func TestLoad(t *testing.T) {
	const manifest = "version: 1.0.0\n"
	tests := []struct {
		name  string
		files map[string]string // path under the package: content ("/" suffix: a directory)
		err   string            // the error after "DIR/"; "" = loads
		warns []string          // the warnings after "DIR/"
	}{
		{
			name:  "install and uninstall scripts",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "scripts/install.sh": "cp -r assets/. \"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"\n", "scripts/uninstall.sh": "true\n"},
		},
		{
			name:  "manifest.yml",
			files: map[string]string{"manifest.yml": manifest, "assets/": ""},
			err:   "manifest.yaml: missing (found manifest.yml: rename it)",
		},
		{
			name:  "Manifest.yaml",
			files: map[string]string{"Manifest.yaml": manifest, "assets/": ""},
			err:   "manifest.yaml: missing (found Manifest.yaml: rename it)",
		},
		{
			name:  "no manifest at all",
			files: map[string]string{"README": "", "assets/": ""},
			err:   "manifest.yaml: missing (every package needs a manifest.yaml with at least a version)",
		},
		{
			name:  "a file that only contains the name is no near miss",
			files: map[string]string{"manifest.yaml": manifest, "assets.zip": ""},
			err:   "assets: missing (a package needs manifest.yaml and assets/; scripts/ is optional; this directory is required)",
		},
		{
			name:  "asset/",
			files: map[string]string{"manifest.yaml": manifest, "asset/": ""},
			err:   "assets: missing (found asset: rename it)",
		},
		{
			name:  "an install.sh that does not parse",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "scripts/install.sh": "[ -d assets ]; then\n  cp -r assets/. \"$DISTPAC_DESTDIR$DISTPAC_PREFIX\"\nfi\n"},
			err:   "scripts/install.sh: does not parse with /bin/sh, which clients run it with: ",
		},
		{
			name:  "an uninstall.sh that does not parse",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "scripts/uninstall.sh": "echo \"bye\n"},
			err:   "scripts/uninstall.sh: does not parse with /bin/sh, which clients run it with: ",
		},
		{
			name:  "scripts that are not run",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "scripts/postinstall.sh": "true\n", "scripts/Install.sh": "true\n", "scripts/lib/": ""},
			warns: []string{
				"scripts/Install.sh: not run: clients run only scripts/install.sh and scripts/uninstall.sh (it is shipped, for them to use)",
				"scripts/postinstall.sh: not run: clients run only scripts/install.sh and scripts/uninstall.sh (it is shipped, for them to use)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello")
			os.MkdirAll(dir, 0o755)
			for path, text := range tt.files {
				full := filepath.Join(dir, path)
				if strings.HasSuffix(path, "/") {
					os.MkdirAll(full, 0o755)
					continue
				}
				os.MkdirAll(filepath.Dir(full), 0o755)
				if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			p, err := Load(dir)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), dir+string(filepath.Separator)+tt.err) {
					t.Fatalf("Load = %v, want %s", err, dir+string(filepath.Separator)+tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var want []string
			for _, w := range tt.warns {
				want = append(want, dir+string(filepath.Separator)+w)
			}
			if !slices.Equal(p.Warnings, want) {
				t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(p.Warnings, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
