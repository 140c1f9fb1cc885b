package clientcli

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// TestReadersSayAScriptNeverStarted: a dist-client killed after it noted
// install.sh and before the script's process started it leaves a note
// with no start mark (state.UnstartedScripts). list and status said of it
// "it may still run", though it never ran and recover drops it as
// nothing to undo; now they say that. A note whose script marked its
// start, or one of another boot (a loss of power may have taken its
// mark), may still run, and is said so.
func TestReadersSayAScriptNeverStarted(t *testing.T) {
	ctx := context.Background()
	// A process group of this boot that has ended, as the group of a
	// script's process that the killed dist-client's gate let go.
	sleeper := exec.Command("sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	g := script.Identify(sleeper.Process.Pid)
	sleeper.Process.Kill()
	sleeper.Wait()
	if !g.ThisBoot() {
		t.Skip("no boot id here: no note is known never to have started")
	}
	thisBoot := state.Process{PGID: g.PGID, Start: g.Start, Boot: g.Boot}
	const never, maybe = "interrupted before it changed anything: install.sh of slow 1.0.0 never started", "may still run"
	for _, tt := range []struct {
		name    string
		process state.Process
		started bool
		want    string
	}{
		{"never started", thisBoot, false, never},
		{"started", thisBoot, true, maybe},
		{"of another boot", state.Process{PGID: g.PGID, Start: g.Start, Boot: "another-boot"}, false, maybe},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, _, db, run := interruptedHome(t)
			if err := db.EndJournal(ctx); err != nil { // no file moved: only the note is left
				t.Fatal(err)
			}
			id, err := db.NoteScript(ctx, state.Script{Script: state.ScriptInstall, Name: "slow", Version: "1.0.0",
				Archive: "slow-1.0.0.tar.zst", SHA256: strings.Repeat("a", 64), Size: 10, Prefix: filepath.Join(dir, "prefix")})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.ScriptStarted(ctx, id, tt.process); err != nil {
				t.Fatal(err)
			}
			if tt.started {
				f, err := db.OpenMarks()
				if err != nil {
					t.Fatal(err)
				}
				f.WriteString(state.StartedMark(id) + "\n")
				f.Close()
			}
			for _, args := range [][]string{{"list", "--installed"}, {"status"}} {
				_, got := run(args...)
				if !strings.Contains(got, tt.want) {
					t.Errorf("%v: stderr %q, want %q", args, got, tt.want)
				}
				if tt.want == never && strings.Contains(got, maybe) {
					t.Errorf("%v: stderr %q says a script that never started may still run", args, got)
				}
			}
			if tt.want == never {
				// recover agrees: nothing to undo, and the note is gone.
				if out, got := run("recover"); strings.Contains(out+got, "had started") {
					t.Errorf("recover: stdout %q, stderr %q; want nothing undone", out, got)
				}
				if _, got := run("list", "--installed"); strings.Contains(got, "interrupted") {
					t.Errorf("list after recover: stderr %q", got)
				}
			}
		})
	}
}
