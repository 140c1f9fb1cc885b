package install

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestCleanDryRun: clean --dry-run names what clean removes, with sizes
// and reasons, and removes nothing; clean then removes the same.
func TestCleanDryRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("a", "1.0.0", map[string]string{"assets/a/x": "a"}), w.pkg("b", "1.0.0", map[string]string{"assets/b/x": "b"}))
	if err := w.client.Install(ctx, []string{"a", "b"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if err := w.client.Uninstall(ctx, []string{"a"}, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	part := filepath.Join(w.client.Paths.Cache(), "c-1.0.0.tar.zst.part")
	if err := os.WriteFile(part, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(w.client.Paths.Cache(), "a-1.0.0.tar.zst")
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	want := []Cleaned{
		{Path: part, Files: 1, Bytes: 100, Why: "kept by an interrupted download: the next install or upgrade that needs it would resume from there"},
		{Path: archive, Files: 1, Bytes: fi.Size(), Why: "no installed package needs it"},
	}
	would, err := w.client.Clean(ctx, true)
	if err != nil || !slices.Equal(would, want) {
		t.Fatalf("Clean(dry run) = %+v, %v; want %+v", would, err, want)
	}
	for _, c := range want {
		if _, err := os.Stat(c.Path); err != nil {
			t.Errorf("the dry run removed %s", c.Path)
		}
	}
	done, err := w.client.Clean(ctx, false)
	if err != nil || !slices.Equal(done, want) {
		t.Fatalf("Clean = %+v, %v; want %+v", done, err, want)
	}
	for _, c := range want {
		if _, err := os.Stat(c.Path); !os.IsNotExist(err) {
			t.Errorf("%s is still there", c.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(w.client.Paths.Cache(), "b-1.0.0.tar.zst")); err != nil {
		t.Errorf("the installed package's archive went: %v", err)
	}
}

// TestUninstallOutcome: what uninstall --json prints: the changes, as
// install's and the history's, and the dependencies left unneeded; with
// --dry-run what would go, or why it would be refused.
func TestUninstallOutcome(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publishHello()
	if err := w.client.Install(ctx, []string{"hello"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	w.client.DryRun = true
	if err := w.client.Uninstall(ctx, []string{"libgreet"}, false); err == nil {
		t.Fatal("a dry run of removing a needed library passed")
	}
	if p := w.client.RemovalPlan; p == nil || !p.WouldFail || len(p.Packages) != 0 || p.Error == "" {
		t.Fatalf("refused dry run: %+v", p)
	}
	if err := w.client.Uninstall(ctx, []string{"hello"}, true); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	want := []WouldUninstall{{Name: "hello", Version: "1.0.0", Prefix: w.prefix()}, {Name: "libgreet", Version: "1.0.0", Prefix: w.prefix(), NoLongerNeeded: true}}
	if p := w.client.RemovalPlan; p == nil || p.WouldFail || !slices.Equal(p.Packages, want) {
		t.Fatalf("dry run: %+v, want %+v", p, want)
	}
	w.client.DryRun, w.client.RemovalPlan = false, nil
	if err := w.client.Uninstall(ctx, []string{"hello"}, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	s := w.client.Last
	if s == nil || !slices.Equal(s.Changes, []state.HistoryChange{{Name: "hello", From: "1.0.0"}}) || !slices.Equal(s.NoLongerNeeded, []string{"libgreet"}) || s.Error != "" {
		t.Fatalf("Last = %+v", s)
	}
	if w.client.RemovalPlan != nil {
		t.Fatalf("a real uninstall set a removal plan: %+v", w.client.RemovalPlan)
	}
}
