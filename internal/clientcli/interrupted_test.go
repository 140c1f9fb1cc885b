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
	dir, prefix, db, run := interruptedHome(t)
	const said = "interrupted in the middle of a change"
	for _, args := range [][]string{{"list", "--installed"}, {"status"}, {"verify"}, {"owner", filepath.Join(prefix, "x")}} {
		if _, got := run(args...); !strings.Contains(got, said) || !strings.Contains(got, prefix) {
			t.Errorf("%v with a journal left: stderr %q, want it to say a change was interrupted in %s", args, got, prefix)
		}
	}
	lock, err := state.Acquire(ctx, filepath.Join(dir, "lock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := run("list", "--installed"); strings.Contains(got, said) {
		t.Errorf("with the lock held by a running command: stderr %q, want nothing of an interruption", got)
	}
	lock.Release()
	if err := db.EndJournal(ctx); err != nil {
		t.Fatal(err)
	}
	if _, got := run("list", "--installed"); strings.Contains(got, said) {
		t.Errorf("after the journal ended: stderr %q", got)
	}
}

// interruptedHome is a client data home whose installed state holds the
// journal of a change a killed dist-client left (of `install x`, making
// changes, when some are given: its history entry says so); run runs a
// dist-client command on it and gives its stdout and stderr.
func interruptedHome(t *testing.T, changes ...state.HistoryChange) (dir, prefix string, db *state.DB, run func(args ...string) (string, string)) {
	t.Helper()
	ctx := context.Background()
	home := t.TempDir()
	t.Setenv("XDG_DATA_HOME", home)
	dir = filepath.Join(home, "distpac", "client")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "client.yaml")
	prefix = filepath.Join(home, "prefix")
	os.WriteFile(cfg, []byte("server_url: http://127.0.0.1:9\nprefix: "+prefix+"\n"), 0o644)
	db, err := state.Open(ctx, filepath.Join(dir, "installed.db"), prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	j := state.Journal{Work: filepath.Join(dir, "staging", "txn-1")}
	if len(changes) > 0 {
		if j.History, err = db.StartHistory(ctx, "install x"); err != nil {
			t.Fatal(err)
		}
		j.Changes = changes
	}
	if err := db.BeginJournal(ctx, j, state.Bounds{Staging: filepath.Join(dir, "staging")}); err != nil {
		t.Fatal(err)
	}
	return dir, prefix, db, func(args ...string) (string, string) {
		var out, errOut bytes.Buffer
		Main(ctx, append([]string{"--config", cfg}, args...), strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String()
	}
}

// TestRecover: dist-client recover ends the change a killed dist-client
// left, and nothing else: the readers stop saying one is pending, and a
// second recover finds nothing. Only another change (install, upgrade,
// uninstall, mark, hold) ended it before (an operator's run).
func TestRecover(t *testing.T) {
	_, _, _, run := interruptedHome(t)
	const said = "interrupted in the middle of a change"
	if _, got := run("list", "--installed"); !strings.Contains(got, said) || !strings.Contains(got, "dist-client recover") {
		t.Fatalf("list with a journal left: stderr %q, want it to name dist-client recover", got)
	}
	if out, got := run("recover"); out != "rolled back the change of an interrupted dist-client; files and records are as before it\n" || got != "" {
		t.Errorf("recover: stdout %q, stderr %q; want the roll-back said", out, got)
	}
	if _, got := run("list", "--installed"); strings.Contains(got, said) {
		t.Errorf("list after recover: stderr %q", got)
	}
	if out, got := run("recover"); out != "nothing to recover: no change was interrupted\n" || got != "" {
		t.Errorf("recover again: stdout %q, stderr %q", out, got)
	}
}

// TestRecoverNamesTheChange: recover says, on stdout, which command's
// change it rolled back and the packages and versions it undid, and
// --json gives the same (it said "rolled back the changes of an
// interrupted dist-client" on stderr, naming nothing, and had no --json).
func TestRecoverNamesTheChange(t *testing.T) {
	_, _, _, run := interruptedHome(t, state.HistoryChange{Name: "x", To: "1.0.0"}, state.HistoryChange{Name: "y", From: "1.0.0", To: "2.0.0"})
	if out, got := run("recover", "--json"); got != "" ||
		!strings.Contains(out, `"result": "rolled back"`) || !strings.Contains(out, `"command": "install x"`) ||
		!strings.Contains(out, `"name": "x",`) || !strings.Contains(out, `"from": "1.0.0",`) {
		t.Errorf("recover --json: stdout %q, stderr %q", out, got)
	}
	if out, got := run("recover", "--json"); got != "" || strings.Contains(out, `"result"`) || !strings.Contains(out, `"changes": []`) {
		t.Errorf("recover --json again: stdout %q, stderr %q; want nothing recovered", out, got)
	}

	_, _, _, run = interruptedHome(t, state.HistoryChange{Name: "x", To: "1.0.0"})
	if out, got := run("recover"); out != "rolled back the change of the interrupted `dist-client install x`: +x 1.0.0 undone; files and records are as before it\n" || got != "" {
		t.Errorf("recover: stdout %q, stderr %q", out, got)
	}
}
