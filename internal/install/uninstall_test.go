package install

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// threePackages installs a (with scripts that log), b (whose uninstall.sh
// fails when the file fail exists in the world) and c (no scripts).
func threePackages(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	w.publish(
		w.pkg("a", "1.0.0", map[string]string{"assets/a": "a", "scripts/install.sh": w.logScript("install") + destdirScript("a"), "scripts/uninstall.sh": w.logScript("uninstall")}),
		w.pkg("b", "1.0.0", map[string]string{"assets/b": "b", "scripts/uninstall.sh": w.logScript("uninstall") + "if [ -e " + w.dir + "/fail ]; then echo cannot stop the b service >&2; exit 3; fi\n"}),
		w.pkg("c", "1.0.0", map[string]string{"assets/share/c/c": "c"}),
	)
	if err := w.client.Install(context.Background(), []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	os.Remove(w.dir + "/scripts.log")
	return w
}

// installed fails the test unless exactly names are recorded, with their
// files on disk as recorded.
func (w *world) installed(names ...string) {
	w.t.Helper()
	st := w.state()
	if len(st.Packages) != len(names) {
		w.t.Fatalf("installed %v, want %v", st.Sorted(), names)
	}
	for _, n := range names {
		if _, ok := st.Get(n); !ok {
			w.t.Fatalf("%s is not installed; installed: %v", n, st.Sorted())
		}
	}
	w.consistent()
}

// TestUninstallSeveralIsAtomic: uninstall a b c where b's uninstall.sh
// fails removes nothing, as an install of several installs nothing when
// one fails: a's uninstall.sh had run, so its install.sh runs again; the
// error names every package that stays; the history records a failure
// that changed nothing; the exit status (an error) is a failure. Before, a
// was removed and b and c stayed, and the error named only b.
func TestUninstallSeveralIsAtomic(t *testing.T) {
	ctx := context.Background()
	w := threePackages(t)
	os.WriteFile(w.dir+"/fail", nil, 0o644)
	err := w.client.Uninstall(ctx, []string{"a", "b", "c"}, false)
	want := "uninstall a 1.0.0, b 1.0.0 and c 1.0.0: nothing was removed, all 3 stay installed (a 1.0.0, whose uninstall.sh had run, installed again): " +
		"the uninstall.sh of b 1.0.0 failed (--skip-uninstall-script removes its files without running the script): uninstall.sh exited with status 3"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	w.installed("a", "b", "c")
	if got := w.scriptLog(); got != "a 1.0.0 uninstall\nb 1.0.0 uninstall\na 1.0.0 install\n" {
		t.Fatalf("scripts ran: %q", got)
	}
	h := w.history()
	if last := h[len(h)-1]; last.Result != state.ResultFailed || len(last.Changes) != 0 || !strings.Contains(last.Error, "nothing was removed") {
		t.Fatalf("history %+v", last)
	}
	if strings.Contains(w.out.String(), "uninstalled") {
		t.Fatalf("output says something was uninstalled:\n%s", w.out)
	}

	// Past the failing script, all three go in one step.
	os.Remove(w.dir + "/fail")
	if err := w.client.Uninstall(ctx, []string{"a", "b", "c"}, false); err != nil {
		t.Fatal(err)
	}
	w.installed()
	if ents, _ := os.ReadDir(w.prefix()); len(ents) != 0 {
		t.Fatalf("the prefix keeps %v", ents)
	}
	h = w.history()
	if last := h[len(h)-1]; last.Result != state.ResultOK || len(last.Changes) != 3 {
		t.Fatalf("history %+v", last)
	}
}

// TestUninstallSeveralFailingStep fails each step of the removal's
// transaction as a full disk would: every package stays, the one whose
// uninstall.sh ran is restored, and the error says so.
func TestUninstallSeveralFailingStep(t *testing.T) {
	for _, step := range []string{"journal", "move", "commit"} {
		t.Run(step, func(t *testing.T) {
			w := threePackages(t)
			failed := false
			w.client.hook = func(s string) error {
				if s == step && !failed {
					failed = true // once: the restores pass
					return &os.PathError{Op: "rename", Path: w.prefix("a", "a"), Err: syscall.ENOSPC}
				}
				return nil
			}
			err := w.client.Uninstall(context.Background(), []string{"a", "b", "c"}, false)
			want := "uninstall a 1.0.0, b 1.0.0 and c 1.0.0: nothing was removed, all 3 stay installed (a 1.0.0 and b 1.0.0, whose uninstall.sh had run, installed again): "
			if !errors.Is(err, syscall.ENOSPC) || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("err = %v\nwant %s...", err, want)
			}
			w.client.hook = nil
			w.installed("a", "b", "c")
			if h := w.history(); h[len(h)-1].Result != state.ResultFailed || len(h[len(h)-1].Changes) != 0 {
				t.Fatalf("history %+v", h[len(h)-1])
			}
		})
	}
}

// TestUninstallOneFailing: the message of one package whose uninstall.sh
// fails is as it was.
func TestUninstallOneFailing(t *testing.T) {
	w := threePackages(t)
	os.WriteFile(w.dir+"/fail", nil, 0o644)
	err := w.client.Uninstall(context.Background(), []string{"b"}, false)
	if want := "uninstall b 1.0.0: it stays installed (--skip-uninstall-script removes its files without running the script): uninstall.sh exited with status 3"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	w.installed("a", "b", "c")
}

// TestUninstallDryRun: uninstall --dry-run says what would go (with
// --cascade, the dependencies no longer needed), changes nothing and
// leaves no history entry; a removal that would be refused still fails.
func TestUninstallDryRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publishHello()
	if err := w.client.Install(ctx, []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	before := len(w.history())
	w.client.DryRun = true
	w.out.Reset()
	if err := w.client.Uninstall(ctx, []string{"hello"}, true); err != nil {
		t.Fatal(err)
	}
	out := w.out.String()
	for _, want := range []string{"would uninstall hello 1.0.0, from ", "would uninstall libgreet 1.0.0 (no longer needed), from ", "dry run: nothing uninstalled"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	w.installed("hello", "libgreet")
	if after := len(w.history()); after != before {
		t.Errorf("history %d entries after a dry run, %d before", after, before)
	}
	if err := w.client.Uninstall(ctx, []string{"libgreet"}, false); err == nil || !strings.Contains(err.Error(), "hello") {
		t.Errorf("dry run of a removal refused (hello depends on libgreet): %v", err)
	}
	// A prefix others can write: refused as the removal would be.
	if err := os.Chmod(w.prefix(), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := w.client.Uninstall(ctx, []string{"hello"}, false); err == nil || !strings.Contains(err.Error(), "writable by") {
		t.Errorf("dry run with a world-writable prefix: %v", err)
	}
	os.Chmod(w.prefix(), 0o755)
	w.installed("hello", "libgreet")
}
