package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestUpgradeChecksRecordedPrefix: a package keeps the prefix it was
// installed to when the configuration moves on, and its upgrade runs the
// old version's uninstall.sh with that prefix and sets the old files aside
// there. Only the configured prefix was checked: an upgrade renamed files,
// as this user, in a prefix everyone could write. Now the upgrade (and its
// dry run, and a reinstall) is refused before anything is downloaded, run
// or moved, naming the package and the prefix.
func TestUpgradeChecksRecordedPrefix(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(ctx context.Context, c *Client) error
	}{
		{"upgrade", func(ctx context.Context, c *Client) error { return c.Upgrade(ctx, nil, false) }},
		{"upgrade --dry-run", func(ctx context.Context, c *Client) error { return c.Upgrade(ctx, nil, true) }},
		{"install of the new version", func(ctx context.Context, c *Client) error { return c.Install(ctx, []string{"tool@1.1.0"}) }},
		{"install --reinstall", func(ctx context.Context, c *Client) error {
			c.Reinstall = true
			return c.Install(ctx, []string{"tool@1.0.0"})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			marker := filepath.Join(w.dir, "uninstall-ran")
			w.publish(w.pkg("tool", "1.0.0", map[string]string{
				"assets/bin/tool":      "1",
				"scripts/uninstall.sh": "touch " + marker + "\n",
			}))
			if err := w.client.Install(ctx, []string{"tool"}); err != nil {
				t.Fatal(err)
			}
			old := w.client.Config.Prefix
			w.client.Config.Prefix = filepath.Join(w.dir, "other")
			w.publish(w.pkg("tool", "1.1.0", map[string]string{"assets/bin/tool": "2"}))
			if err := os.Chmod(old, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(old, 0o755)
			err := tt.run(ctx, w.client)
			if err == nil || !strings.Contains(err.Error(), "tool 1.0.0 was installed to "+old+": prefix "+old+": "+old+" is writable by") {
				t.Fatalf("%s with the recorded prefix world-writable: %v", tt.name, err)
			}
			if b, err := os.ReadFile(filepath.Join(old, "bin", "tool")); err != nil || string(b) != "1" {
				t.Fatalf("the old version's file: %q, %v", b, err)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the old version's uninstall.sh ran")
			}
			if r, _ := w.state().Get("tool"); r.Version != "1.0.0" || r.Prefix != old {
				t.Fatalf("record: %+v", r)
			}
			// Once the prefix is the user's again, the upgrade goes through.
			os.Chmod(old, 0o755)
			if err := w.client.Upgrade(ctx, nil, false); err != nil {
				t.Fatal(err)
			}
			if r, _ := w.state().Get("tool"); r.Version != "1.1.0" {
				t.Fatalf("after the upgrade: %+v", r)
			}
		})
	}
}

// TestRecoverChecksJournalPrefixes: an upgrade killed in the middle of its
// moves left a journal that renames files in the package's recorded
// prefix, not the configured one. Recovery undid it there unchecked; now,
// while another user can write that prefix, it is refused and nothing is
// touched (every later command included); once it is the user's again,
// recovery rolls back as before.
func TestRecoverChecksJournalPrefixes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("tool", "1.0.0", map[string]string{"assets/bin/tool": "1"}))
	if err := w.client.Install(ctx, []string{"tool"}); err != nil {
		t.Fatal(err)
	}
	old := w.client.Config.Prefix
	w.client.Config.Prefix = filepath.Join(w.dir, "other")
	w.publish(w.pkg("tool", "1.1.0", map[string]string{"assets/bin/tool": "2"}))
	// The transaction dies at its first move, journal written (a panic
	// skips the rollback and the journal's end, as a kill -9 would).
	w.client.hook = func(step string) error {
		if step == "move" {
			panic("killed")
		}
		return nil
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the upgrade was not stopped at its first move")
			}
		}()
		w.client.Upgrade(ctx, nil, false)
	}()
	w.client.hook = nil
	if err := os.Chmod(old, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(old, 0o755)
	for range 2 {
		tx, err := w.client.begin(ctx, "test", false)
		if err == nil {
			tx.close()
			t.Fatal("recovery moved files in a prefix others can write")
		}
		if want := "recover an interrupted transaction: prefix " + old + ": " + old + " is writable by"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was touched") {
			t.Fatalf("recovery: %v\nwant %q", err, want)
		}
	}
	os.Chmod(old, 0o755)
	tx, err := w.client.begin(ctx, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	tx.close()
	if r, _ := w.state().Get("tool"); r.Version != "1.0.0" {
		t.Fatalf("after the rollback: %+v", r)
	}
	if b, err := os.ReadFile(filepath.Join(old, "bin", "tool")); err != nil || string(b) != "1" {
		t.Fatalf("the old version's file after the rollback: %q, %v", b, err)
	}
}

// A prefix's staging that others can write, under a prefix that passes, is
// not cleaned by the recovery every command runs (mark and hold run with
// such a prefix): it was, as the prefix alone was checked (an attacker's
// run).
func TestRecoverLeavesUnsafePrefixStaging(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	staging := filepath.Join(w.client.Config.Prefix, state.StagingDirName)
	leftover := filepath.Join(staging, w.client.txnPrefix()+"left")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode os.FileMode
		kept bool
	}{{0o777, true}, {0o755, false}} {
		if err := os.Chmod(staging, tc.mode); err != nil {
			t.Fatal(err)
		}
		tx, err := w.client.begin(ctx, "test", false)
		if err != nil {
			t.Fatal(err)
		}
		tx.close()
		if _, err := os.Lstat(leftover); (err == nil) != tc.kept {
			t.Errorf("staging of mode %v: leftover there: %v, want %v", tc.mode, err == nil, tc.kept)
		}
	}
}
