package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/buftest"
	"github.com/distpac/distpac/internal/installed"
	"github.com/distpac/distpac/internal/state"
)

// destdirScript is an install.sh of the DESTDIR contract: it copies
// assets/ under $DISTPAC_DESTDIR$DISTPAC_PREFIX/<sub>.
func destdirScript(sub string) string {
	return fmt.Sprintf("set -eu\nmkdir -p \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[1]s\"\ncp -R \"$DISTPAC_ASSETS/.\" \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/%[1]s/\"\n", sub)
}

// logScript appends "NAME VERSION WHAT" to the world's script log.
func (w *world) logScript(what string) string {
	return fmt.Sprintf("echo \"$DISTPAC_NAME $DISTPAC_VERSION %s\" >> %q\n", what, filepath.Join(w.dir, "scripts.log"))
}

func (w *world) scriptLog() string {
	b, _ := os.ReadFile(filepath.Join(w.dir, "scripts.log"))
	return string(b)
}

// publishHello publishes the examples' pair: libgreet 1.0.0 (assets/ as
// its tree) and hello 1.0.0, which depends on it and copies bin/hello with
// its install.sh.
func (w *world) publishHello() {
	w.publish(
		w.pkg("libgreet", "1.0.0", map[string]string{"assets/share/libgreet/greeting.txt": "hello\n"}),
		w.pkg("hello", "1.0.0", map[string]string{
			"manifest.yaml":      "version: 1.0.0\ndepends:\n  - libgreet ^1\n",
			"assets/hello":       "#!/bin/sh\n",
			"scripts/install.sh": "set -eu\nmkdir -p \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin\"\ncp \"$DISTPAC_ASSETS/hello\" \"$DISTPAC_DESTDIR$DISTPAC_PREFIX/bin/\"\n",
		}),
	)
}

func TestInstallRecordsFiles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publishHello()
	if err := w.client.Install(ctx, []string{"hello"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	w.consistent()
	rec, files, err := w.read().Files(ctx, "hello")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Prefix != w.prefix() || !rec.FilesKnown || len(files) != 2 || files[1].Path != "bin/hello" || files[1].Size != 10 {
		t.Fatalf("hello: %+v, files %+v", rec, files)
	}
	if _, files, _ := w.read().Files(ctx, "libgreet"); len(files) != 3 {
		t.Fatalf("libgreet (assets/ as the tree) files %+v", files)
	}
	if b, _ := os.ReadFile(w.prefix("share", "libgreet", "greeting.txt")); string(b) != "hello\n" {
		t.Fatalf("greeting.txt = %q", b)
	}
	_, o, err := w.read().Owners(ctx, w.prefix("bin", "hello"))
	if err != nil || len(o) != 1 || o[0].Name != "hello" || o[0].Version != "1.0.0" {
		t.Fatalf("Owners = %+v, %v", o, err)
	}
	if _, _, err := w.read().Owners(ctx, w.prefix("bin", "nope")); !errors.Is(err, installed.ErrNotOwned) {
		t.Fatalf("Owner of an unowned path: %v", err)
	}
	// Through a symlinked directory, both ways: bin moved to bin2 and
	// bin a link to it (recorded bin/hello asked as bin2/hello), and a
	// link to bin (link/hello).
	if err := os.Rename(w.prefix("bin"), w.prefix("bin2")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin2", w.prefix("bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bin", w.prefix("link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{w.prefix("bin2", "hello"), w.prefix("link", "hello")} {
		if _, o, err := w.read().Owners(ctx, p); err != nil || len(o) != 1 || o[0].Name != "hello" {
			t.Fatalf("Owner(%s) through a symlinked directory = %+v, %v", p, o, err)
		}
	}
	if _, _, err := w.read().Owners(ctx, w.prefix("bin2", "nope")); !errors.Is(err, installed.ErrNotOwned) {
		t.Fatalf("Owner of an unowned path: %v", err)
	}
	os.Remove(w.prefix("link"))
	os.Remove(w.prefix("bin"))
	if err := os.Rename(w.prefix("bin2"), w.prefix("bin")); err != nil {
		t.Fatal(err)
	}
	// At rest: the cached archives and the installed files, nothing else.
	if _, err := os.Stat(w.client.Paths.Packages()); !os.IsNotExist(err) {
		t.Error("an extracted copy was kept")
	}
	h := w.history()
	if len(h) != 1 || h[0].Result != state.ResultOK || h[0].Command != "install hello" || len(h[0].Changes) != 2 || h[0].Installed != 10+6 {
		t.Fatalf("history = %+v", h)
	}
	v, err := w.read().Verify(ctx, nil)
	if err != nil || len(v) != 2 || len(v[0].Problems)+len(v[1].Problems) != 0 {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
}

// TestVerboseInstallSaysWhatItDoes: with -v (a debug logger) an install
// logs each step with what it worked on: the state it opened, the plan,
// each archive downloaded, extracted and staged (install.sh or not), and
// the placement. Before, an install through a daemon logged nothing.
func TestVerboseInstallSaysWhatItDoes(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	w.client.source = &dirSource{w: w}
	os.Remove(filepath.Join(w.client.Paths.Cache(), "hello-1.0.0.tar.zst")) // hello downloads, libgreet is cached
	var log buftest.Buffer
	w.client.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := w.client.Install(context.Background(), []string{"hello"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	for _, want := range []string{
		`msg="opened the installed state" path=` + w.client.Paths.Installed(),
		`msg=plan package=libgreet version=1.0.0 archive=libgreet-1.0.0.tar.zst size=`,
		`msg=plan package=hello version=1.0.0 archive=hello-1.0.0.tar.zst size=`,
		`cached=false`,
		`msg=downloaded archive=hello-1.0.0.tar.zst bytes=`,
		`msg=extracted archive=libgreet-1.0.0.tar.zst`,
		`msg=staged package=libgreet version=1.0.0 files=3 install_sh=false`,
		`msg=staged package=hello version=1.0.0 files=2 install_sh=true`,
		`msg="placed and committed" moves=`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("no %q in the debug log:\n%s", want, log.String())
		}
	}
}

func TestConflicts(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("alpha", "1.0.0", map[string]string{"assets/bin/tool": "alpha"}),
		w.pkg("beta", "1.0.0", map[string]string{"assets/bin/tool": "beta"}),
		w.pkg("gamma", "1.0.0", map[string]string{"assets/bin/gamma": "gamma"}),
	)
	if err := w.client.Install(ctx, []string{"alpha"}); err != nil {
		t.Fatal(err)
	}
	err := w.client.Install(ctx, []string{"beta"})
	if err == nil || !strings.Contains(err.Error(), "install beta 1.0.0: bin/tool is owned by alpha 1.0.0; nothing was changed") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(w.prefix("bin", "tool")); string(b) != "alpha" {
		t.Fatalf("bin/tool = %q after a refused install", b)
	}
	// An unowned file stops the install unless --overwrite names it.
	os.WriteFile(w.prefix("bin", "gamma"), []byte("mine"), 0o644)
	if err := w.client.Install(ctx, []string{"gamma"}); err == nil || !strings.Contains(err.Error(), "bin/gamma exists in the prefix and no package owns it") {
		t.Fatalf("err = %v", err)
	}
	if _, ok := w.state().Get("gamma"); ok {
		t.Fatal("gamma recorded after a refused install")
	}
	w.client.Overwrite = []string{"bin/*"}
	if err := w.client.Install(ctx, []string{"gamma"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(w.prefix("bin", "gamma")); string(b) != "gamma" {
		t.Fatalf("bin/gamma = %q", b)
	}
	w.consistent()
	h := w.history()
	if len(h) != 4 || h[1].Result != state.ResultFailed || !strings.Contains(h[1].Error, "owned by alpha") {
		t.Fatalf("history = %+v", h)
	}
}

func TestUpgradeReplacesFiles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/a": "1", "assets/b": "1", "scripts/install.sh": destdirScript("app"), "scripts/uninstall.sh": w.logScript("uninstall")}))
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("app", "1.1.0", map[string]string{"assets/a": "2", "assets/c": "2", "scripts/install.sh": destdirScript("app")}))
	if err := w.client.Upgrade(ctx, nil, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if b, _ := os.ReadFile(w.prefix("app", "a")); string(b) != "2" {
		t.Fatalf("app/a = %q", b)
	}
	if _, err := os.Stat(w.prefix("app", "b")); !os.IsNotExist(err) {
		t.Fatal("a file the new version no longer ships is still there")
	}
	if r, _ := w.state().Get("app"); r.Version != "1.1.0" || r.HasUninstall {
		t.Fatalf("record %+v", r)
	}
	if w.scriptLog() != "app 1.0.0 uninstall\n" {
		t.Fatalf("scripts ran: %q", w.scriptLog())
	}
	w.consistent()
	h := w.history()
	if last := h[len(h)-1]; last.Command != "upgrade" || last.Changes[0] != (state.HistoryChange{Name: "app", From: "1.0.0", To: "1.1.0"}) {
		t.Fatalf("history %+v", last)
	}
}

func TestUpgradeFailureRestores(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/a": "1", "scripts/install.sh": w.logScript("install") + destdirScript("app"), "scripts/uninstall.sh": w.logScript("uninstall")}))
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("app", "2.0.0", map[string]string{"assets/a": "2", "scripts/install.sh": destdirScript("app") + "echo broken >&2; exit 4\n"}))
	err := w.client.Upgrade(ctx, nil, false)
	if err == nil || !strings.Contains(err.Error(), "upgrade app to 2.0.0 failed, 1.0.0 restored: install app 2.0.0: install.sh exited with status 4") {
		t.Fatalf("err = %v", err)
	}
	if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
		t.Fatalf("record %+v", r)
	}
	if b, _ := os.ReadFile(w.prefix("app", "a")); string(b) != "1" {
		t.Fatalf("app/a = %q", b)
	}
	// The old uninstall.sh ran, then the old install.sh again.
	if got := w.scriptLog(); got != "app 1.0.0 install\napp 1.0.0 uninstall\napp 1.0.0 install\n" {
		t.Fatalf("scripts ran: %q", got)
	}
	w.consistent()
}

// TestUninstallFromRecordedPrefix: a changed prefix does not move what
// uninstall removes (issue 10: it deleted a file in the new prefix and left
// the old one).
func TestUninstallFromRecordedPrefix(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("tool", "1.0.0", map[string]string{"assets/bin/tool": "tool"}))
	if err := w.client.Install(ctx, []string{"tool"}); err != nil {
		t.Fatal(err)
	}
	old := w.prefix("bin", "tool")
	w.client.Config.Prefix = filepath.Join(w.dir, "other")
	unrelated := w.prefix("bin", "tool")
	os.MkdirAll(filepath.Dir(unrelated), 0o755)
	os.WriteFile(unrelated, []byte("not distpac's"), 0o644)
	if err := w.client.Uninstall(ctx, []string{"tool"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatal("the installed file in the recorded prefix is still there")
	}
	if _, err := os.Stat(filepath.Dir(old)); !os.IsNotExist(err) {
		t.Fatal("the directory distpac made is still there")
	}
	if b, _ := os.ReadFile(unrelated); string(b) != "not distpac's" {
		t.Fatal("uninstall touched the configured prefix")
	}
}

// TestFullDiskAtEveryStep fails each step of an install as a full disk
// would: the command fails with the OS's error, and the state is as
// before: nothing recorded, nothing placed, no staging left.
func TestFullDiskAtEveryStep(t *testing.T) {
	for _, step := range []string{"staged", "journal", "move", "commit", "finish"} {
		t.Run(step, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("big", "1.0.0", map[string]string{"assets/bin/a": "a", "assets/share/big/b": "b", "scripts/install.sh": destdirScript("")}))
			w.client.hook = func(s string) error {
				if s == step {
					return &os.PathError{Op: "write", Path: w.prefix("x"), Err: syscall.ENOSPC}
				}
				return nil
			}
			err := w.client.Install(ctx, []string{"big"})
			if step == "finish" {
				// After the commit: installed; the next command cleans up.
				if err != nil {
					t.Fatal(err)
				}
				w.client.hook = nil
				if err := w.client.Install(ctx, []string{"big"}); err != nil {
					t.Fatal(err)
				}
				w.consistent()
				return
			}
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
				t.Fatalf("err = %v", err)
			}
			if _, ok := w.state().Get("big"); ok {
				t.Fatal("recorded after a failed install")
			}
			w.consistent()
			if h := w.history(); h[len(h)-1].Result != state.ResultFailed {
				t.Fatalf("history %+v", h)
			}
		})
	}
}

// TestHandEditedStateRefused: a version with a path in it never reaches a
// path (issue 9): uninstall refuses with an error naming the file.
func TestHandEditedStateRefused(t *testing.T) {
	w := newWorld(t)
	victim := filepath.Join(w.dir, "victim")
	os.MkdirAll(filepath.Join(victim, "scripts"), 0o755)
	os.WriteFile(filepath.Join(victim, "scripts", "uninstall.sh"), []byte("exit 0\n"), 0o755)
	os.MkdirAll(w.client.Paths.Dir, 0o755)
	legacy := filepath.Join(w.client.Paths.Dir, state.LegacyFile)
	v1 := `{"version": 1, "packages": [{"name": "foo", "version": "1.0.0/../../../../victim", "archive": "foo-1.0.0.tar.zst",
		"sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "size": 1, "installed_at": "2026-01-01T00:00:00Z"}]}`
	os.WriteFile(legacy, []byte(v1), 0o644)
	err := w.client.Uninstall(context.Background(), []string{"foo"}, false)
	if !errors.Is(err, state.ErrCorrupt) || !strings.Contains(err.Error(), legacy) || !strings.Contains(err.Error(), "version") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(victim, "scripts", "uninstall.sh")); err != nil {
		t.Fatal("the victim directory was touched")
	}
}

// TestLegacyStateMigrates: installed.json version 1 becomes the database
// and its packages uninstall with the scripts an older dist-client kept.
func TestLegacyStateMigrates(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("other", "1.0.0", map[string]string{"assets/o": "o"}))
	old := filepath.Join(w.client.Paths.Packages(), "old-1.0.0")
	os.MkdirAll(filepath.Join(old, "scripts"), 0o755)
	os.WriteFile(filepath.Join(old, "scripts", "uninstall.sh"), []byte(w.logScript("uninstall")), 0o755)
	v1 := `{"version": 1, "packages": [{"name": "old", "version": "1.0.0", "archive": "old-1.0.0.tar.zst",
		"sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "size": 1, "installed_at": "2026-01-01T00:00:00Z"}]}`
	os.WriteFile(filepath.Join(w.client.Paths.Dir, state.LegacyFile), []byte(v1), 0o644)
	if err := w.client.Install(ctx, []string{"other"}); err != nil {
		t.Fatal(err)
	}
	st := w.state()
	if r, ok := st.Get("old"); !ok || r.FilesKnown || r.Prefix != w.prefix() {
		t.Fatalf("migrated record %+v", r)
	}
	if err := w.client.Uninstall(ctx, []string{"old"}, false); err != nil {
		t.Fatal(err)
	}
	if w.scriptLog() != "old 1.0.0 uninstall\n" {
		t.Fatalf("scripts ran: %q", w.scriptLog())
	}
	if _, ok := w.state().Get("old"); ok {
		t.Fatal("still recorded")
	}
}

// TestRemovalGraph: uninstall refuses a needed package and cascades.
func TestRemovalGraph(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("lib", "1.0.0", map[string]string{"assets/lib/l": "l"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "version: 1.0.0\ndepends:\n  - lib\n", "assets/bin/app": "a"}),
	)
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	if err := w.client.Uninstall(ctx, []string{"lib"}, false); err == nil || !strings.Contains(err.Error(), "cannot uninstall lib: app 1.0.0 depends on it") {
		t.Fatalf("err = %v", err)
	}
	if err := w.client.Uninstall(ctx, []string{"app"}, true); err != nil {
		t.Fatal(err)
	}
	if len(w.state().Packages) != 0 {
		t.Fatalf("left %v", w.state().Packages)
	}
	w.consistent()
	if ents, _ := os.ReadDir(w.prefix()); len(ents) != 0 {
		t.Fatalf("the prefix keeps %v", ents)
	}
	h := w.history()
	if last := h[len(h)-1]; last.Result != state.ResultOK || len(last.Changes) != 2 {
		t.Fatalf("history %+v", last)
	}
}
