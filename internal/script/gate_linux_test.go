package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGateMarkFails: a process that cannot write its start mark (the disk
// is full: /dev/full stands for it) ends before the script, and Run says
// the script did not start (ErrNotStarted), not that it "exited with
// status 125": the caller then runs no uninstall.sh for it, as the
// recovery after a kill would not (its mark is missing).
func TestGateMarkFails(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer full.Close()
	ran := filepath.Join(t.TempDir(), "ran")
	env := pkg(t, fmt.Sprintf(": > %q\nexit 125\n", ran))
	env.Mark = full
	var told Group
	env.Started = func(g Group) (string, error) { told = g; return "started 7", nil }
	err = Run(context.Background(), "install.sh", env, nil)
	t.Log(err)
	if _, serr := os.Stat(ran); serr == nil {
		t.Fatal("the script ran although its start could not be marked")
	}
	var se *Error
	if !errors.Is(err, ErrNotStarted) || errors.As(err, &se) {
		t.Fatalf("Run = %v, want ErrNotStarted and no script's exit status", err)
	}
	if !strings.Contains(err.Error(), "could not mark its start in /dev/full") {
		t.Fatalf("Run = %v, want it to say the mark could not be written, and where", err)
	}
	if told.alive() {
		t.Fatal("the held process still runs")
	}
}
