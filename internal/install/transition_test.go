package install

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestUpgradeChangesEntryType: a directory of one version is a symlink or a
// file in the next, and back (usrmerge-style moves). Each way the new
// version's entry takes the place of the old version's own entries; before,
// a directory becoming anything else was refused ("lib is a directory in
// the prefix; app 2.0.0 has a symlink there").
func TestUpgradeChangesEntryType(t *testing.T) {
	for _, tt := range []struct {
		name   string
		v1, v2 map[string]string
		check  func(w *world) string // what is wrong with v2 in the prefix
	}{{
		name: "directory and symlink",
		v1:   map[string]string{"assets/lib/a": "1", "assets/lib/sub/b": "1"},
		v2:   map[string]string{"assets/lib64/a": "2", "assets/lib": "-> lib64"},
		check: func(w *world) string {
			if target, err := os.Readlink(w.prefix("lib")); err != nil || target != "lib64" {
				return "lib is not the symlink to lib64"
			}
			if b, _ := os.ReadFile(w.prefix("lib", "a")); string(b) != "2" {
				return "lib/a is not 2.0.0's"
			}
			return ""
		},
	}, {
		name: "file and directory",
		v1:   map[string]string{"assets/doc": "a file"},
		v2:   map[string]string{"assets/doc/README": "2"},
		check: func(w *world) string {
			if b, _ := os.ReadFile(w.prefix("doc", "README")); string(b) != "2" {
				return "doc/README is not 2.0.0's"
			}
			return ""
		},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("app", "1.0.0", tt.v1), w.pkg("app", "2.0.0", tt.v2))
			if err := w.client.Install(ctx, []string{"app@1.0.0"}); err != nil {
				t.Fatal(err)
			}
			v1 := verifyTree(t, w)
			if err := w.client.Upgrade(ctx, nil, false); err != nil {
				t.Fatalf("upgrade: %v\n%s", err, w.out)
			}
			w.consistent()
			if what := tt.check(w); what != "" {
				t.Fatal(what)
			}
			// And back.
			if err := w.client.Install(ctx, []string{"app@1.0.0"}); err != nil {
				t.Fatalf("downgrade: %v\n%s", err, w.out)
			}
			w.consistent()
			if got := verifyTree(t, w); got != v1 {
				t.Fatalf("after the way back the prefix holds %s, want %s", got, v1)
			}
			if err := w.client.Uninstall(ctx, []string{"app"}, false); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(w.prefix()); len(ents) != 0 {
				t.Fatalf("the prefix keeps %v", ents)
			}
		})
	}
}

// verifyTree lists the prefix's entries with their types.
func verifyTree(t *testing.T, w *world) string {
	t.Helper()
	var out []string
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := os.ReadDir(w.prefix(rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			p := strings.TrimPrefix(rel+"/"+e.Name(), "/")
			out = append(out, p+":"+e.Type().String())
			if e.IsDir() {
				walk(p)
			}
		}
	}
	walk("")
	return strings.Join(out, " ")
}

// TestDirectoryBecomesSymlinkRefused: what the package does not own in the
// directory it turns into a symlink (a user's file, another package's)
// stops the upgrade, named, and nothing changes.
func TestDirectoryBecomesSymlinkRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("app", "1.0.0", map[string]string{"assets/lib/a": "1"}),
		w.pkg("app", "2.0.0", map[string]string{"assets/lib64/a": "2", "assets/lib": "-> lib64"}),
		w.pkg("plugin", "1.0.0", map[string]string{"assets/lib/plugin.so": "p"}),
	)
	if err := w.client.Install(ctx, []string{"app@1.0.0", "plugin"}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(w.prefix("lib", "mine"), []byte("the user's"), 0o644)
	// plugin records lib/ too.
	err := w.client.Upgrade(ctx, []string{"app"}, false)
	if want := "install app 2.0.0: lib is owned by plugin 1.0.0; nothing was changed"; err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if err := w.client.Uninstall(ctx, []string{"plugin"}, false); err != nil {
		t.Fatal(err)
	}
	err = w.client.Upgrade(ctx, []string{"app"}, false)
	if want := "install app 2.0.0: lib/mine is in the directory lib, which app 2.0.0 replaces with a symlink, and no package owns it (move it out of lib first); nothing was changed"; err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
		t.Fatalf("app %s recorded after a refused upgrade", r.Version)
	}
	w.consistent("lib/mine")
	if h := w.history(); h[len(h)-1].Result != state.ResultFailed {
		t.Fatalf("history %+v", h[len(h)-1])
	}
	os.Remove(w.prefix("lib", "mine"))
	if err := w.client.Upgrade(ctx, []string{"app"}, false); err != nil {
		t.Fatal(err)
	}
	w.consistent()
}
