package clientcli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestReadersSayATransactionWasInterrupted: with the journal of a change a
// killed dist-client left, the commands that read the installed state say
// so (they listed, owned and verified as if nothing were pending; an
// attacker's run), once a command takes the lock and ends it they do not,
// and while a running dist-client holds the lock nothing is said.
func TestReadersSayATransactionWasInterrupted(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", home)
	dir := filepath.Join(home, "distpac", "client")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "client.yaml")
	prefix := filepath.Join(home, "prefix")
	os.WriteFile(cfg, []byte("server_url: http://127.0.0.1:9\nprefix: "+prefix+"\n"), 0o644)
	db, err := state.Open(ctx, filepath.Join(dir, "installed.db"), prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.BeginJournal(ctx, state.Journal{Work: filepath.Join(dir, "staging", "txn-1")}, state.Bounds{Staging: filepath.Join(dir, "staging")}); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		Main(ctx, append([]string{"--config", cfg}, args...), strings.NewReader(""), &out, &errOut)
		return errOut.String()
	}
	const said = "interrupted in the middle of a change"
	for _, args := range [][]string{{"list", "--installed"}, {"status"}, {"verify"}, {"owner", filepath.Join(prefix, "x")}} {
		if got := run(args...); !strings.Contains(got, said) || !strings.Contains(got, prefix) {
			t.Errorf("%v with a journal left: stderr %q, want it to say a change was interrupted in %s", args, got, prefix)
		}
	}
	lock, err := state.Acquire(ctx, filepath.Join(dir, "lock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := run("list", "--installed"); strings.Contains(got, said) {
		t.Errorf("with the lock held by a running command: stderr %q, want nothing of an interruption", got)
	}
	lock.Release()
	if err := db.EndJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if got := run("list", "--installed"); strings.Contains(got, said) {
		t.Errorf("after the journal ended: stderr %q", got)
	}
}
