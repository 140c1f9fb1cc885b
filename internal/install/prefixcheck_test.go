package install

import (
	"context"
	"database/sql"
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
			w, old, marker := recordedElsewhere(t)
			if err := os.Chmod(old, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(old, 0o755)
			err := tt.run(ctx, w.client)
			if err == nil || !strings.Contains(err.Error(), "tool 1.0.0 was installed to "+old+": prefix "+old+": "+old+" is writable by") {
				t.Fatalf("%s with the recorded prefix world-writable: %v", tt.name, err)
			}
			w.untouched(old, marker)
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
	killAtFirstMove(t, w.client)
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

// TestRecordedPrefixStagingIsChecked: a prefix passes when it and its
// staging folder do (CheckPrefix), as clientcli has it for the configured
// one. The upgrade and the removal of a package recorded under another
// prefix checked that prefix alone: with its staging writable by others
// they went ahead, where the same package under the configured prefix was
// refused. Now they are refused alike, before anything is run or moved,
// and go through once the folder is the user's again.
func TestRecordedPrefixStagingIsChecked(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(ctx context.Context, c *Client) error
	}{
		{"upgrade", func(ctx context.Context, c *Client) error { return c.Upgrade(ctx, nil, false) }},
		{"upgrade --dry-run", func(ctx context.Context, c *Client) error { return c.Upgrade(ctx, nil, true) }},
		{"uninstall", func(ctx context.Context, c *Client) error { return c.Uninstall(ctx, []string{"tool"}, false) }},
		{"uninstall --dry-run", func(ctx context.Context, c *Client) error {
			c.DryRun = true
			defer func() { c.DryRun = false }()
			return c.Uninstall(ctx, []string{"tool"}, false)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w, old, marker := recordedElsewhere(t)
			staging := filepath.Join(old, state.StagingDirName)
			if err := os.Mkdir(staging, 0o755); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(staging, 0o777); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(staging, 0o755)
			err := tt.run(ctx, w.client)
			if want := "prefix " + staging + ": " + staging + " is writable by"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "tool 1.0.0") {
				t.Fatalf("%s with the recorded prefix's staging world-writable: %v\nwant it to name tool 1.0.0 and say %q", tt.name, err, want)
			}
			w.untouched(old, marker)
			os.Chmod(staging, 0o755)
			if err := tt.run(ctx, w.client); err != nil {
				t.Fatalf("%s once the staging is the user's again: %v", tt.name, err)
			}
		})
	}
}

// TestRecoverChecksJournalStaging: a transaction whose work directory was
// in the prefix's staging (the data home on another filesystem) was killed
// in the middle of its moves. Its recovery undoes renames out of that
// work directory; with the staging writable by others, what it holds could
// be theirs. Recovery checked the prefix alone and went ahead (mark and
// hold run it with such a prefix), though its clean-up of the same
// staging is refused; now it is refused too, nothing touched, and rolls
// back once the staging is the user's again.
func TestRecoverChecksJournalStaging(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	c := w.client
	w.publish(w.pkg("tool", "1.0.0", map[string]string{"assets/bin/tool": "1"}))
	if err := c.Install(ctx, []string{"tool"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("tool", "1.1.0", map[string]string{"assets/bin/tool": "2"}))
	killAtFirstMove(t, c)
	// The test's data home and prefix share a filesystem, so the work
	// directory was in the data home's staging (the panic's deferred
	// clean-up removed it, as a kill -9 would not have): the journal's
	// paths move to the prefix's, where it goes otherwise.
	db, err := sql.Open("sqlite", c.Paths.Installed())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var from string
	if err := db.QueryRowContext(ctx, `SELECT work FROM txn WHERE id = 1`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(c.Config.Prefix, state.StagingDirName)
	work := filepath.Join(staging, c.txnPrefix()+"moved")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE txn SET work = ?2 WHERE work = ?1`,
		`UPDATE journal SET src = replace(src, ?1, ?2), dst = replace(dst, ?1, ?2)`,
	} {
		if _, err := db.ExecContext(ctx, q, from, work); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(staging, 0o777); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(staging, 0o755)
	for range 2 {
		tx, err := c.begin(ctx, "test", false)
		if err == nil {
			tx.close()
			t.Fatal("recovery moved files through a staging others can write")
		}
		if want := "recover an interrupted transaction: prefix " + staging + ": " + staging + " is writable by"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was touched") {
			t.Fatalf("recovery: %v\nwant %q", err, want)
		}
		if _, err := os.Stat(work); err != nil {
			t.Fatalf("the work directory: %v", err)
		}
	}
	os.Chmod(staging, 0o755)
	tx, err := c.begin(ctx, "test", false)
	if err != nil {
		t.Fatal(err)
	}
	tx.close()
	if r, _ := w.state().Get("tool"); r.Version != "1.0.0" {
		t.Fatalf("after the rollback: %+v", r)
	}
	if b, err := os.ReadFile(w.prefix("bin", "tool")); err != nil || string(b) != "1" {
		t.Fatalf("the old version's file after the rollback: %q, %v", b, err)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Fatalf("the work directory after the rollback: %v", err)
	}
}

// recordedElsewhere is a world where tool 1.0.0 (whose uninstall.sh
// touches marker) was installed to old, the configured prefix has moved
// on, and tool 1.1.0 is published.
func recordedElsewhere(t *testing.T) (w *world, old, marker string) {
	t.Helper()
	w = newWorld(t)
	marker = filepath.Join(w.dir, "uninstall-ran")
	w.publish(w.pkg("tool", "1.0.0", map[string]string{
		"assets/bin/tool":      "1",
		"scripts/uninstall.sh": "touch " + marker + "\n",
	}))
	if err := w.client.Install(context.Background(), []string{"tool"}); err != nil {
		t.Fatal(err)
	}
	old = w.client.Config.Prefix
	w.client.Config.Prefix = filepath.Join(w.dir, "other")
	w.publish(w.pkg("tool", "1.1.0", map[string]string{"assets/bin/tool": "2"}))
	return w, old, marker
}

// untouched checks that tool 1.0.0 is as recordedElsewhere left it: its
// file and record in old, its uninstall.sh not run.
func (w *world) untouched(old, marker string) {
	w.t.Helper()
	if b, err := os.ReadFile(filepath.Join(old, "bin", "tool")); err != nil || string(b) != "1" {
		w.t.Fatalf("the old version's file: %q, %v", b, err)
	}
	if _, err := os.Stat(marker); err == nil {
		w.t.Fatal("the old version's uninstall.sh ran")
	}
	if r, ok := w.state().Get("tool"); !ok || r.Version != "1.0.0" || r.Prefix != old {
		w.t.Fatalf("record: %+v, %v", r, ok)
	}
}

// killAtFirstMove runs an upgrade that dies at its first move, journal
// written (a panic skips the rollback and the journal's end, as a kill -9
// would).
func killAtFirstMove(t *testing.T, c *Client) {
	t.Helper()
	c.hook = func(step string) error {
		if step == "move" {
			panic("killed")
		}
		return nil
	}
	defer func() {
		c.hook = nil
		if recover() == nil {
			t.Fatal("the upgrade was not stopped at its first move")
		}
	}()
	c.Upgrade(context.Background(), nil, false)
}
