package place

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

func TestUpgradeReplacesAndRemoves(t *testing.T) {
	f := newFixture(t, tree{"bin/": "", "bin/app": "v1", "share/app/": "", "share/app/old": "old", "share/app/keep": "same"})
	old := f.installed("app", "1.0.0", "bin", "bin/app", "share", "share/app", "share/app/old", "share/app/keep")
	s := f.staged("app", tree{"bin/": "", "bin/app": "v2", "share/": "", "share/app/": "", "share/app/keep": "same", "share/app/new": "new"})
	var warned []string
	plan, err := f.run([]Change{{Old: old, New: s}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"bin/": "", "bin/app": "v2", "share/": "", "share/app/": "", "share/app/keep": "same", "share/app/new": "new"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 0 {
		t.Errorf("warnings for unchanged files: %v", warned)
	}
	for _, file := range plan.Files[0] {
		if file.Type == state.TypeDir && !file.Created {
			t.Errorf("%s lost the Created flag the old version had", file.Path)
		}
	}
}

// An upgrade leaves where they are the files and symlinks the user
// changed that the new version ships unchanged (an edited configuration
// file, as dpkg and pacman keep it), recording the package's copy so that
// verify still lists them; a changed file the new version changes too is
// kept as .distpac-save, as before; a reinstall of the same version puts
// every file back. Before, every changed file went aside as .distpac-save
// and the package's copy came back at each upgrade.
func TestUpgradeLeavesUsersEditOfUnchangedFile(t *testing.T) {
	for _, tt := range []struct {
		name string
		to   string // the version staged
		want tree
		kept int // warnings that say "left as it is"
	}{
		{"upgrade", "1.1.0", tree{"etc/": "", "etc/app.conf": "edited by the user", "bin/": "", "bin/app": "v2", "bin/app.distpac-save": "patched by the user",
			"share/": "", "share/theme": "-> user-theme"}, 2},
		{"reinstall", "1.0.0", tree{"etc/": "", "etc/app.conf": "configured=yes", "etc/app.conf.distpac-save": "edited by the user", "bin/": "", "bin/app": "v2",
			"bin/app.distpac-save": "patched by the user", "share/": "", "share/theme": "-> default-theme", "share/theme.distpac-save": "-> user-theme"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tree{"etc/": "", "etc/app.conf": "configured=yes", "bin/": "", "bin/app": "v1", "share/": "", "share/theme": "-> default-theme"})
			old := f.installed("app", "1.0.0", "etc", "etc/app.conf", "bin", "bin/app", "share", "share/theme")
			s := f.staged("app", tree{"etc/": "", "etc/app.conf": "configured=yes", "bin/": "", "bin/app": "v2", "share/": "", "share/theme": "-> default-theme"})
			s.Version = tt.to
			os.WriteFile(filepath.Join(f.prefix, "etc/app.conf"), []byte("edited by the user"), 0o644)
			os.WriteFile(filepath.Join(f.prefix, "bin/app"), []byte("patched by the user"), 0o644)
			os.Remove(filepath.Join(f.prefix, "share/theme"))
			os.Symlink("user-theme", filepath.Join(f.prefix, "share/theme"))
			var warned []string
			plan, err := f.run([]Change{{Old: old, New: s}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
			if err != nil {
				t.Fatal(err)
			}
			if got := read(t, f.prefix); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("prefix = %v\nwant %v", got, tt.want)
			}
			kept := 0
			for _, w := range warned {
				if strings.Contains(w, "left as it is") {
					kept++
				}
			}
			if kept != tt.kept || len(warned) != 3 {
				t.Errorf("warnings = %q; want 3, %d of them 'left as it is'", warned, tt.kept)
			}
			// The records are the package's: verify lists the user's edits.
			for _, file := range plan.Files[0] {
				if file.Path == "etc/app.conf" {
					if sum := sha256.Sum256([]byte("configured=yes")); file.SHA256 != hex.EncodeToString(sum[:]) {
						t.Errorf("etc/app.conf recorded with sha256 %s, want the package's", file.SHA256)
					}
				}
			}
			problems, err := Verify(context.Background(), f.prefix, plan.Files[0])
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != tt.kept {
				t.Errorf("verify after the %s: %+v; want the %d files left as the user made them", tt.name, problems, tt.kept)
			}
		})
	}
}

func TestRemoveKeepsChangedFiles(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/app.conf": "default", "etc/app.conf.distpac-save": "an older save", "bin/": "", "bin/app": "x", "bin/link": "-> app", "bin/gone": "g"})
	old := f.installed("app", "1.0.0", "etc", "etc/app.conf", "bin", "bin/app", "bin/link", "bin/gone")
	other := f.installed("other", "2.0.0", "bin")
	os.WriteFile(filepath.Join(f.prefix, "etc/app.conf"), []byte("edited by the user"), 0o644)
	os.Chmod(filepath.Join(f.prefix, "bin/app"), 0o700)
	os.Remove(filepath.Join(f.prefix, "bin/gone"))
	var warned []string
	_, err := f.run([]Change{{Old: old}}, Options{Owners: f.owners(other), Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }})
	if err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/app.conf.distpac-save": "an older save", "etc/app.conf.distpac-save.1": "edited by the user", "bin/": "", "bin/app.distpac-save": "x"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "content changed") || !strings.Contains(warned[1], "mode changed (0700, recorded 0644)") {
		t.Fatalf("warnings = %q", warned)
	}
}

// TestRemoveKeepsChangedFileWithALongName: a changed file whose name the
// suffix takes past NAME_MAX (255 bytes) is kept under its name cut to fit
// (state.SaveName). Before, the rename failed with "file name too long"
// and the removal rolled back: the package could be neither upgraded nor
// uninstalled while the user's change was there.
func TestRemoveKeepsChangedFileWithALongName(t *testing.T) {
	long := strings.Repeat("c", 245) + ".conf" // 250 bytes
	f := newFixture(t, tree{"etc/": "", "etc/" + long: "default", "etc/" + strings.Repeat("c", 242) + ".distpac-save": "an older save"})
	old := f.installed("app", "1.0.0", "etc", "etc/"+long)
	os.WriteFile(filepath.Join(f.prefix, "etc", long), []byte("edited by the user"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(string, ...any) {}}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/" + strings.Repeat("c", 242) + ".distpac-save": "an older save", "etc/" + strings.Repeat("c", 240) + ".distpac-save.1": "edited by the user"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestRemoveKeepsChangedFileNamedLikeABackup: a changed file whose name
// starts as a backup's (.distpac-) is kept as NAME.distpac-save, and the
// commit does not delete it. Before, Finish took every name starting
// with .distpac- for a backup: the user's copy was deleted.
func TestRemoveKeepsChangedFileNamedLikeABackup(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/.distpac-rc": "default"})
	old := f.installed("app", "1.0.0", "etc", "etc/.distpac-rc")
	os.WriteFile(filepath.Join(f.prefix, "etc/.distpac-rc"), []byte("edited by the user"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/.distpac-rc.distpac-save": "edited by the user"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestRemoveLeavesUsersDirectory: a file the package placed that the user
// replaced with a directory of their own stays where it is, with a
// warning. Before, the check for it never matched ("is a dir now" is what
// Check says), and the directory was moved to NAME.distpac-save.
func TestRemoveLeavesUsersDirectory(t *testing.T) {
	f := newFixture(t, tree{"etc/": "", "etc/app": "default"})
	old := f.installed("app", "1.0.0", "etc", "etc/app")
	os.Remove(filepath.Join(f.prefix, "etc/app"))
	write(t, f.prefix, tree{"etc/app/": "", "etc/app/mine": "the user's"})
	var warned []string
	if _, err := f.run([]Change{{Old: old}}, Options{Warn: func(format string, a ...any) { warned = append(warned, fmt.Sprintf(format, a...)) }}); err != nil {
		t.Fatal(err)
	}
	want := tree{"etc/": "", "etc/app/": "", "etc/app/mine": "the user's"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "etc/app was recorded as a file of app 1.0.0 and is a directory now; left alone") {
		t.Fatalf("warnings = %q", warned)
	}
}

// TestRemoveLeavesUsersSymlink: a directory the package made that the user
// replaced with a symlink to a directory of their own stays a symlink when
// the package goes; before, the symlink was unlinked.
func TestRemoveLeavesUsersSymlink(t *testing.T) {
	f := newFixture(t, tree{"share/": "", "share/f": "f", "usershare/": ""})
	old := f.installed("lnk", "1.0.0", "share", "share/f")
	share := filepath.Join(f.prefix, "share")
	if err := os.Rename(filepath.Join(share, "f"), filepath.Join(f.prefix, "usershare", "f")); err != nil {
		t.Fatal(err)
	}
	os.Remove(share)
	if err := os.Symlink("usershare", share); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.prefix, "usershare", "mine"), []byte("mine"), 0o644)
	if _, err := f.run([]Change{{Old: old}}, Options{}); err != nil {
		t.Fatal(err)
	}
	want := tree{"share": "-> usershare", "usershare/": "", "usershare/mine": "mine"}
	if got := read(t, f.prefix); !reflect.DeepEqual(got, want) {
		t.Fatalf("prefix = %v\nwant %v", got, want)
	}
}

// TestRemoveKeepsADirectoryAnotherRecords: a directory distpac made for a
// package leaving is removed after the commit (when empty) unless a
// package that stays records it too.
func TestRemoveKeepsADirectoryAnotherRecords(t *testing.T) {
	for _, shared := range []bool{false, true} {
		f := newFixture(t, tree{"share/": "", "share/x/": "", "share/x/f": "f"})
		app := f.installed("app", "1.0.0", "share", "share/x", "share/x/f")
		var o Options
		if shared {
			o.Owners = f.owners(f.installed("other", "2.0.0", "share/x"))
		}
		plan, err := f.run([]Change{{Old: app}}, o)
		if err != nil {
			t.Fatal(err)
		}
		var removed []string
		for _, op := range plan.Journal.Ops {
			if op.Kind == state.OpRmdir {
				removed = append(removed, strings.TrimPrefix(op.Src, f.prefix))
			}
		}
		want := []string{"/share/x", "/share"}
		if shared {
			want = []string{"/share"}
		}
		if !reflect.DeepEqual(removed, want) {
			t.Errorf("shared %v: directories removed %q, want %q", shared, removed, want)
		}
	}
}
