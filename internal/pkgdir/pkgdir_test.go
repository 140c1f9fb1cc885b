package pkgdir

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
		// Only manifest.yaml, assets/ and scripts/ go into the archive: a
		// publisher who misspelt scripts/ shipped a package without its
		// scripts, and add said nothing.
		{
			name:  "script/",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "script/install.sh": "true\n"},
			err:   "script: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (rename it to scripts)",
		},
		{
			name:  "Scripts/",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "Scripts/install.sh": "true\n"},
			err:   "Scripts: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (rename it to scripts)",
		},
		{
			name:  "script/ beside scripts/",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "scripts/install.sh": "true\n", "script/uninstall.sh": "true\n"},
			err:   "script: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (move what it holds into scripts/)",
		},
		{
			name:  "asset/ beside assets/",
			files: map[string]string{"manifest.yaml": manifest, "assets/a": "", "asset/b": ""},
			err:   "asset: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (move what it holds into assets/)",
		},
		{
			name:  "a file named like the directory",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "script": "true\n"},
			err:   "script: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (rename it to scripts)",
		},
		{
			name:  "other entries are named, not refused",
			files: map[string]string{"manifest.yaml": manifest, "assets/": "", "README.md": "", ".git/HEAD": "", "assets.zip": "", "manifest.yml": manifest},
			warns: []string{
				".git: not shipped: the archive holds only manifest.yaml, assets/ and scripts/",
				"README.md: not shipped: the archive holds only manifest.yaml, assets/ and scripts/",
				"assets.zip: not shipped: the archive holds only manifest.yaml, assets/ and scripts/",
				"manifest.yml: not shipped: the archive holds only manifest.yaml, assets/ and scripts/ (manifest.yaml is the one read)",
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

// TestLoadLeavesOtherEntriesUnread: what the archive leaves out (.git, a
// build folder) is not read: a FIFO or an unreadable file there failed
// the publication ("FIFOs are not allowed"), though it was never shipped.
func TestLoadLeavesOtherEntriesUnread(t *testing.T) {
	dir := t.TempDir()
	for p, body := range map[string]string{"manifest.yaml": "version: 1.0.0\n", "assets/a": "a", ".git/HEAD": "ref\n", ".git/secret": "s"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, ".git", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, ".git", "secret"), 0); err != nil {
		t.Fatal(err)
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var paths []string
	for _, e := range p.Entries {
		paths = append(paths, e.Path)
	}
	if want := []string{"assets", "assets/a", "manifest.yaml"}; !slices.Equal(paths, want) {
		t.Errorf("entries %q, want %q", paths, want)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], ".git: not shipped") {
		t.Errorf("warnings %q, want one for .git", p.Warnings)
	}
}

// The directory that holds package directories, given in their place,
// says which of its subdirectories are packages and the command that adds
// them (a newcomer's "dist-server add examples" was told only that
// examples/manifest.yaml was missing). DIR stands for the directory.
func TestLoadParentOfPackages(t *testing.T) {
	const m = "version: 1.0.0\n"
	tests := []struct {
		name  string
		files map[string]string
		err   string
	}{
		{
			name:  "two packages",
			files: map[string]string{"hello/manifest.yaml": m, "libgreet/manifest.yaml": m, "README": ""},
			err:   "DIR has no manifest.yaml, but 2 directories in it have one (DIR/hello, DIR/libgreet): give the package directories, not the one that holds them: dist-server add DIR/*",
		},
		{
			name:  "one package beside a directory that is none",
			files: map[string]string{"hello/manifest.yaml": m, "docs/": "", ".git/manifest.yaml": m},
			err:   "DIR has no manifest.yaml, but 1 directory in it has one (DIR/hello): give the package directories, not the one that holds them: dist-server add DIR/*",
		},
		{
			name:  "at most three named",
			files: map[string]string{"e/manifest.yaml": m, "d/manifest.yaml": m, "c/manifest.yaml": m, "b/manifest.yaml": m, "a/manifest.yaml": m},
			err:   "DIR has no manifest.yaml, but 5 directories in it have one (DIR/a, DIR/b, DIR/c and 2 more): give the package directories, not the one that holds them: dist-server add DIR/*",
		},
		{
			name:  "no package below",
			files: map[string]string{"docs/": "", "assets/": ""},
			err:   "DIR/manifest.yaml: missing (every package needs a manifest.yaml with at least a version)",
		},
		{
			name:  "a near miss is the mistake",
			files: map[string]string{"manifest.yml": m, "hello/manifest.yaml": m, "assets/": ""},
			err:   "DIR/manifest.yaml: missing (found manifest.yml: rename it)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "examples")
			for path, text := range tt.files {
				full := filepath.Join(dir, path)
				if strings.HasSuffix(path, "/") {
					// Made itself, not only its parent: a package's
					// assets/ is no news beside a missing manifest.
					if err := os.MkdirAll(full, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			want := strings.ReplaceAll(tt.err, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("Load = %v\nwant %s", err, want)
			}
		})
	}
}
