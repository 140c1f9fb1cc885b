package install

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/state"
)

// longPrefix makes w's prefix a path of about 3,400 bytes, longer than
// its staging directory, so that the paths of a package reach the 4095
// bytes a system call takes under the prefix.
func longPrefix(w *world) string {
	p := w.prefix()
	for len(p) < 3400 {
		p = filepath.Join(p, strings.Repeat("p", 200))
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		w.t.Fatal(err)
	}
	w.client.Config.Prefix = p
	return p
}

// dirTo is a directory, relative to prefix, whose absolute path is n bytes.
func dirTo(prefix string, n int) string {
	n -= len(prefix) + 1
	rel := ""
	for n-len(rel) > 200 {
		rel += strings.Repeat("a", 150) + "/"
	}
	return rel + strings.Repeat("d", n-len(rel))
}

// TestUpgradeAtThePathBound: files whose paths reach the 4095 bytes a
// system call takes under the prefix are upgraded and uninstalled, those
// changed kept under a name cut to fit, and the transaction recovers from
// a kill -9 at its steps; a path whose directory leaves no room for its
// backup's name (40) is refused at install, naming it,
// nothing placed. Before, a file of 30 bytes at 4085 was installed, and
// could be neither upgraded nor uninstalled once changed: its
// NAME.distpac-save was 4098 bytes; one named f at 4095 neither, changed
// or not: its backup .distpac-TXID-N was 4122 bytes (the journal refused
// both).
func TestUpgradeAtThePathBound(t *testing.T) {
	n255, m255 := strings.Repeat("n", 255), strings.Repeat("m", 255)
	n30 := strings.Repeat("s", 25) + ".conf"
	files := func(w *world, prefix, v string) map[string]string {
		d255 := dirTo(prefix, archive.MaxPathLen-256) // a name of 255 bytes ends at 4095
		room := dirTo(prefix, archive.MaxPathLen-1-state.MaxAsideName)
		return map[string]string{
			"assets/" + d255 + "/" + n255:  v, // changed by the user: kept
			"assets/" + d255 + "/" + m255:  v,
			"assets/" + room + "/f":        v,
			"assets/" + room + "/" + n30:   v, // changed by the user: kept, cut
			"assets/" + room + "/new-" + v: v,
		}
	}
	setUp := func(t *testing.T) (*world, string) {
		w := newWorld(t)
		prefix := longPrefix(w)
		w.publish(w.pkg("long", "1.0.0", files(w, prefix, "1")))
		if err := w.client.Install(context.Background(), []string{"long"}); err != nil {
			t.Fatalf("Install: %.500v", err)
		}
		w.publish(w.pkg("long", "1.1.0", files(w, prefix, "2")))
		return w, prefix
	}
	edit := func(t *testing.T, prefix string) []string {
		var kept []string
		for _, p := range []string{dirTo(prefix, archive.MaxPathLen-256) + "/" + n255, dirTo(prefix, archive.MaxPathLen-1-state.MaxAsideName) + "/" + n30} {
			if err := os.WriteFile(filepath.Join(prefix, p), []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			kept = append(kept, state.SaveName(filepath.Join(prefix, p), 0))
		}
		return kept
	}

	t.Run("upgrade and uninstall", func(t *testing.T) {
		ctx := context.Background()
		w, prefix := setUp(t)
		kept := edit(t, prefix)
		if err := w.client.Upgrade(ctx, nil, false); err != nil {
			t.Fatalf("Upgrade: %.500v", err)
		}
		if r, _ := w.state().Get("long"); r.Version != "1.1.0" {
			t.Fatalf("long %s recorded after the upgrade", r.Version)
		}
		if err := w.client.Uninstall(ctx, []string{"long"}, false); err != nil {
			t.Fatalf("Uninstall: %.500v", err)
		}
		for _, k := range kept {
			if b, err := os.ReadFile(k); err != nil || string(b) != "mine" || len(k) > archive.MaxPathLen {
				t.Errorf("kept %.40q…(%d bytes): %q, %v; want the user's copy", filepath.Base(k), len(k), b, err)
			}
			os.Remove(k)
		}
		w.consistent()
	})

	// The upgrade sets aside 5 files (2 kept) and places 5: a kill at a
	// step (files set aside, some placed) is rolled back by the next
	// command, which then upgrades; one after the commit is finished.
	for _, at := range []string{"move#0", "move#4", "move#7", "commit", "finish"} {
		t.Run("killed at "+at, func(t *testing.T) {
			if testing.Short() {
				t.Skip("starts a process")
			}
			ctx := context.Background()
			w, prefix := setUp(t)
			kept := edit(t, prefix)
			killedAt(t, w.dir, at, crashPrefixEnv+"="+prefix)
			w2 := worldAt(t, w.dir)
			w2.client.Config.Prefix = prefix
			if err := w2.client.Upgrade(ctx, nil, false); err != nil {
				t.Fatalf("Upgrade after a kill at %s: %.500v", at, err)
			}
			if r, _ := w2.state().Get("long"); r.Version != "1.1.0" {
				t.Fatalf("long %s recorded", r.Version)
			}
			for _, k := range kept {
				if b, err := os.ReadFile(k); err != nil || string(b) != "mine" {
					t.Errorf("kept %.40q…: %q, %v; want the user's copy", filepath.Base(k), b, err)
				}
				os.Remove(k)
			}
			w2.consistent()
		})
	}

	t.Run("no room", func(t *testing.T) {
		w := newWorld(t)
		prefix := longPrefix(w)
		rel := dirTo(prefix, archive.MaxPathLen-2) + "/f" // 4095 bytes
		w.publish(w.pkg("long", "1.0.0", map[string]string{"assets/" + rel: "1"}))
		err := w.client.Install(context.Background(), []string{"long"})
		want := "leaves no room beside it for the 40-byte name it is set aside under when upgraded or removed (a system call takes 4095 bytes)"
		if err == nil || !strings.HasPrefix(err.Error(), "install long 1.0.0: scan ") || !strings.Contains(err.Error(), ": path of 4095 bytes under ") || !strings.HasSuffix(err.Error(), want) {
			t.Fatalf("Install = %.600v\nwant … path of 4095 bytes under … %s", err, want)
		}
		if ents, _ := os.ReadDir(prefix); len(ents) > 0 {
			t.Errorf("placed after the refusal: %v", ents)
		}
		w.consistent()
	})
}

// TestBackupNameFitsTheRoom: the longest backup name of a work directory
// install makes (its txnPrefix, then os.MkdirTemp's number, at most
// 4294967295), at a step below 10^11, fits the room install leaves for
// it (state.MaxAsideName).
func TestBackupNameFitsTheRoom(t *testing.T) {
	w := newWorld(t)
	work := w.client.txnPrefix() + "4294967295"
	txid := strings.TrimPrefix(work, "txn-")
	got := filepath.Base(state.BackupName("/p/f", txid, 99_999_999_999))
	if len(got) > state.MaxAsideName {
		t.Fatalf("backup name %q is %d bytes, more than the %d install leaves room for", got, len(got), state.MaxAsideName)
	}
}
