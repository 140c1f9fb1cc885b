package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/state"
)

// A failing install.sh is followed by the package's uninstall.sh
// (DESIGN.md §6), whatever the install.sh wrote: what it did outside the
// staging root and the prefix (a service, a file in ~/.config) is the
// uninstall.sh's to undo. Before, uninstall.sh ran only when install.sh had
// written straight into the prefix.

// envScript writes the uninstall.sh's environment and working directory
// to the file at path.
func envScript(path string) string {
	return "{ echo \"pwd=$(pwd)\"; env | grep '^DISTPAC_' | sort; } > " + shellQuote(path) + "\n"
}

func TestFailedInstallRunsUninstall(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	service := filepath.Join(w.dir, "config", "svc.conf") // outside the prefix
	cleanup := filepath.Join(w.dir, "cleanup.env")
	w.publish(w.pkg("svc", "1.0.0", map[string]string{
		"assets/svc": "svc",
		"scripts/install.sh": destdirScript("svc") + "mkdir -p " + shellQuote(filepath.Dir(service)) + "\necho on > " + shellQuote(service) +
			"\necho 'svc: cannot start' >&2\nexit 7\n",
		"scripts/uninstall.sh": envScript(cleanup) + "rm -f " + shellQuote(service) + "\n",
	}))
	err := w.client.Install(ctx, []string{"svc"})
	if err == nil || !strings.Contains(err.Error(), "install svc 1.0.0: install.sh exited with status 7") || !strings.Contains(err.Error(), "svc: cannot start") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(service); !os.IsNotExist(err) {
		t.Fatalf("what install.sh did outside the prefix stays: %v\n%s", err, w.out)
	}
	b, err := os.ReadFile(cleanup)
	if err != nil {
		t.Fatalf("uninstall.sh did not run: %v", err)
	}
	// The environment of a normal uninstall: no staging root, the
	// extracted package as working directory.
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v
	}
	pkgDir := got["DISTPAC_PKGDIR"]
	if got["DISTPAC_NAME"] != "svc" || got["DISTPAC_VERSION"] != "1.0.0" || got["DISTPAC_PREFIX"] != w.prefix() ||
		got["DISTPAC_DESTDIR"] != "" || pkgDir == "" || got["DISTPAC_ASSETS"] != filepath.Join(pkgDir, "assets") {
		t.Fatalf("uninstall.sh's environment: %q", b)
	}
	if got["pwd"] != pkgDir {
		t.Fatalf("uninstall.sh ran in %s, not in its package %s", got["pwd"], pkgDir)
	}
	if !strings.Contains(w.out.String(), "warning: install of svc 1.0.0 failed; running its uninstall.sh to clean up") {
		t.Fatalf("output:\n%s", w.out)
	}
	if _, ok := w.state().Get("svc"); ok {
		t.Fatal("svc recorded after its install.sh failed")
	}
	w.consistent()
}

// TestFailedInstallCleanupFailsToo: when the uninstall.sh run to clean up
// fails as well, the error names both failures, each with its last lines
// (at most ten), and nothing is recorded.
func TestFailedInstallCleanupFailsToo(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("svc", "1.0.0", map[string]string{
		"assets/svc":           "svc",
		"scripts/install.sh":   destdirScript("svc") + "echo 'svc: cannot start'\nexit 7\n",
		"scripts/uninstall.sh": "i=1; while [ $i -le 12 ]; do echo \"stop line $i\"; i=$((i+1)); done\nexit 5\n",
	}))
	err := w.client.Install(ctx, []string{"svc"})
	if err == nil {
		t.Fatal("install succeeded")
	}
	msg := err.Error()
	for _, want := range []string{
		"install svc 1.0.0: install.sh exited with status 7",
		"svc: cannot start",
		"\nthe uninstall.sh of svc 1.0.0, run to clean up, failed too: uninstall.sh exited with status 5",
		"stop line 12",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "stop line 2\n") {
		t.Errorf("the error repeats more than the last lines:\n%s", msg)
	}
	if _, ok := w.state().Get("svc"); ok {
		t.Fatal("svc recorded")
	}
	if h := w.history(); len(h) != 1 || h[0].Result != state.ResultFailed {
		t.Fatalf("history = %+v", h)
	}
	w.consistent()
}

// TestFailedUpgradeCleansUpBeforeRestoring: the new version's uninstall.sh
// undoes its failed install.sh first, then the old version is installed
// again (its install.sh redoes what the new uninstall.sh may have undone).
func TestFailedUpgradeCleansUpBeforeRestoring(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/a": "1", "scripts/install.sh": w.logScript("install") + destdirScript("app"), "scripts/uninstall.sh": w.logScript("uninstall")}))
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("app", "2.0.0", map[string]string{"assets/a": "2", "scripts/install.sh": w.logScript("install") + destdirScript("app") + "exit 4\n", "scripts/uninstall.sh": w.logScript("uninstall")}))
	err := w.client.Upgrade(ctx, nil, false)
	if err == nil || !strings.Contains(err.Error(), "upgrade app to 2.0.0 failed, 1.0.0 restored: install app 2.0.0: install.sh exited with status 4") {
		t.Fatalf("err = %v", err)
	}
	want := "app 1.0.0 install\napp 1.0.0 uninstall\napp 2.0.0 install\napp 2.0.0 uninstall\napp 1.0.0 install\n"
	if got := w.scriptLog(); got != want {
		t.Fatalf("scripts ran:\n%s\nwant:\n%s", got, want)
	}
	if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
		t.Fatalf("record %+v", r)
	}
	if b, _ := os.ReadFile(w.prefix("app", "a")); string(b) != "1" {
		t.Fatalf("app/a = %q", b)
	}
	w.consistent()
}

// TestFailedUpgradeRestoresOldWithoutUninstall: the old version has no
// uninstall.sh (or it was skipped), so it was live when the failed new
// version's uninstall.sh cleaned up, and that script removes what the
// two versions share. The old version is then put back as after its own
// uninstall.sh; before, it stayed recorded with its file gone.
func TestFailedUpgradeRestoresOldWithoutUninstall(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  map[string]string
		skip bool
	}{
		{"old without scripts", map[string]string{"assets/bin/app": "v1"}, false},
		{"old with install.sh only", map[string]string{"assets/bin/app": "v1", "scripts/install.sh": destdirScript("")}, false},
		{"old uninstall.sh skipped", map[string]string{"assets/bin/app": "v1", "scripts/uninstall.sh": "exit 9\n"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("app", "1.0.0", tc.old))
			if err := w.client.Install(ctx, []string{"app"}); err != nil {
				t.Fatal(err)
			}
			w.publish(w.pkg("app", "2.0.0", map[string]string{
				"assets/bin/app":       "v2",
				"scripts/install.sh":   "echo 'app: cannot configure'\nexit 4\n",
				"scripts/uninstall.sh": "rm -f \"$DISTPAC_PREFIX/bin/app\"\n",
			}))
			w.client.SkipUninstallScript = tc.skip
			err := w.client.Upgrade(ctx, nil, false)
			if err == nil || !strings.Contains(err.Error(), "upgrade app to 2.0.0 failed, 1.0.0 restored: install app 2.0.0: install.sh exited with status 4") {
				t.Fatalf("err = %v", err)
			}
			if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
				t.Fatalf("record %+v", r)
			}
			if b, err := os.ReadFile(w.prefix("bin", "app")); err != nil || string(b) != "v1" {
				t.Fatalf("app 1.0.0's bin/app after the failed upgrade: %q, %v\n%s", b, err, w.out)
			}
			w.consistent()
		})
	}
}

// TestFailedInstallUndoesEarlierPackages: install of several is one
// transaction; when a later package's install.sh fails, the earlier ones
// whose install.sh succeeded are undone too, by their uninstall.sh, last
// first (a package without install.sh ran nothing to undo).
func TestFailedInstallUndoesEarlierPackages(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("lib", "1.0.0", map[string]string{"assets/lib": "lib", "scripts/install.sh": w.logScript("install") + destdirScript("lib"), "scripts/uninstall.sh": w.logScript("uninstall")}),
		w.pkg("data", "1.0.0", map[string]string{"assets/data/d": "d", "scripts/uninstall.sh": w.logScript("uninstall")}),
		w.pkg("app", "1.0.0", map[string]string{
			"manifest.yaml":        "version: 1.0.0\ndepends:\n  - lib\n  - data\n",
			"scripts/install.sh":   w.logScript("install") + "exit 3\n",
			"scripts/uninstall.sh": w.logScript("uninstall"),
		}),
	)
	err := w.client.Install(ctx, []string{"app"})
	if err == nil || !strings.Contains(err.Error(), "install app 1.0.0: install.sh exited with status 3") {
		t.Fatalf("err = %v", err)
	}
	want := "lib 1.0.0 install\napp 1.0.0 install\napp 1.0.0 uninstall\nlib 1.0.0 uninstall\n"
	if got := w.scriptLog(); got != want {
		t.Fatalf("scripts ran:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(w.out.String(), "warning: undoing the install of lib 1.0.0; running its uninstall.sh") {
		t.Fatalf("output:\n%s", w.out)
	}
	if recs := w.state().Sorted(); len(recs) != 0 {
		t.Fatalf("recorded: %+v", recs)
	}
	w.consistent()
}

// TestQuietScriptOutputIsLogged: with -q a script's output is not shown
// but kept in the client's scripts.log (DESIGN.md §6: "shown (or logged
// with -q)"); before, it was thrown away.
func TestQuietScriptOutputIsLogged(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.client.UI.Quiet = true
	w.publish(
		w.pkg("app", "1.0.0", map[string]string{"assets/a": "1", "scripts/install.sh": destdirScript("app") + "echo 'app: configured'\necho 'app: a warning' >&2\n"}),
		w.pkg("bad", "1.0.0", map[string]string{"scripts/install.sh": "echo 'bad: giving up'\nexit 3\n", "scripts/uninstall.sh": "echo 'bad: cleaned'\n"}),
	)
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	if w.out.String() != "" {
		t.Fatalf("-q printed %q", w.out)
	}
	err := w.client.Install(ctx, []string{"bad"})
	logPath := w.client.Paths.ScriptLog()
	if err == nil || !strings.Contains(err.Error(), "install.sh exited with status 3; last output (all of it in "+logPath+"):\n    bad: giving up") {
		t.Fatalf("err = %v", err)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		// TIME NAME VERSION SCRIPT...: the time is UTC, to the second.
		ts, rest, _ := strings.Cut(l, " ")
		if _, err := time.Parse("2006-01-02T15:04:05Z", ts); err != nil {
			t.Errorf("line %q: %v", l, err)
		}
		got = append(got, rest)
	}
	want := []string{
		"app 1.0.0 install.sh: app: configured",
		"app 1.0.0 install.sh: app: a warning",
		"app 1.0.0 install.sh exited with status 0",
		"bad 1.0.0 install.sh: bad: giving up",
		"bad 1.0.0 install.sh exited with status 3",
		"bad 1.0.0 uninstall.sh: bad: cleaned",
		"bad 1.0.0 uninstall.sh exited with status 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("scripts.log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The warning before a cleanup uninstall.sh says why it runs: a package
// whose install went well is undone, not "failed", when a later package's
// download fails (a user read "install of lib 1.0.0 failed" where app's
// archive had no source), and Ctrl-C during an install.sh is an
// interruption, not a failure (a newcomer's run).
func TestCleanupWarningSaysWhy(t *testing.T) {
	w := newWorld(t)
	started := filepath.Join(w.dir, "started")
	w.publish(
		w.pkg("lib", "1.0.0", map[string]string{"assets/lib": "lib", "scripts/install.sh": destdirScript("lib") + "touch " + shellQuote(started+".lib") + "\n", "scripts/uninstall.sh": "true\n"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "version: 1.0.0\ndepends: [lib]\n", "assets/app": "app"}),
		w.pkg("slow", "1.0.0", map[string]string{
			"assets/slow":          "slow",
			"scripts/install.sh":   "touch " + shellQuote(started) + "\nsleep 20\n",
			"scripts/uninstall.sh": "true\n",
		}),
	)

	// app's download fails once lib is staged.
	if err := os.Remove(filepath.Join(w.client.Paths.Cache(), "app-1.0.0.tar.zst")); err != nil {
		t.Fatal(err)
	}
	w.client.source = failAfter{fail: "app-1.0.0.tar.zst", after: started + ".lib"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.client.Install(ctx, []string{"app"}); err == nil || !strings.Contains(err.Error(), "download app-1.0.0.tar.zst") {
		t.Fatalf("install app: %v", err)
	}
	if out := w.out.String(); !strings.Contains(out, "warning: undoing the install of lib 1.0.0; running its uninstall.sh") || strings.Contains(out, "install of lib 1.0.0 failed") {
		t.Errorf("app's download failed; output:\n%s", out)
	}

	// Ctrl-C while slow's install.sh runs.
	w.out.Reset()
	ictx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	go func() {
		for range 200 {
			if _, err := os.Stat(started); err == nil {
				interrupt()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := w.client.Install(ictx, []string{"slow"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("install slow, interrupted: %v", err)
	}
	if out := w.out.String(); !strings.Contains(out, "warning: install of slow 1.0.0 interrupted; running its uninstall.sh to clean up") {
		t.Errorf("interrupted; output:\n%s", out)
	}
	if recs := w.state().Sorted(); len(recs) != 0 {
		t.Fatalf("recorded: %+v", recs)
	}
	w.consistent()
}

// failAfter is a source whose download of the archive fail fails once the
// file after exists (a script ran), as the engine's fails
// (daemon.ArchiveError).
type failAfter struct{ fail, after string }

func (s failAfter) Via() string { return "" }
func (s failAfter) Close()      {}
func (s failAfter) Fetch(ctx context.Context, rows, _ []catalog.Package, _ fetch.Events) error {
	for range 200 {
		if _, err := os.Stat(s.after); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return &daemon.ArchiveError{Archive: s.fail, Err: fmt.Errorf("download %s: no source", s.fail)}
}
