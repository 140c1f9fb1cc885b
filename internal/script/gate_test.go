package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestGate: a script told of (Env.Started) runs only once Started returned
// nil: Started sees its group before the script's first effect, its
// process writes the mark Started returned to Env.Mark before the script
// runs, and the script sees neither the gate nor the mark's file. When
// Started fails the script never runs and Run returns the error.
func TestGate(t *testing.T) {
	for _, tt := range []struct {
		name      string
		mark      bool
		failed    error
		wantMarks string
	}{
		{"with a mark", true, nil, "started 7\n"},
		{"without a mark", false, nil, ""},
		{"Started fails", true, errors.New("disk full"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ran, marks, fds := filepath.Join(dir, "ran"), filepath.Join(dir, "marks"), filepath.Join(dir, "fds")
			// What the script saw of the marks when it ran, and which of
			// fds 3, 4 and 5 it has open.
			env := pkg(t, fmt.Sprintf(`cat %[1]q > %[2]q 2>/dev/null || : > %[2]q
for fd in 3 4 5; do if { true >&$fd; } 2>/dev/null || { true <&$fd; } 2>/dev/null; then echo $fd >> %[3]q; fi; done
`, marks, ran, fds))
			var f *os.File
			if tt.mark {
				var err error
				if f, err = os.OpenFile(marks, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err != nil {
					t.Fatal(err)
				}
				defer f.Close()
			}
			env.Mark = f
			var told Group
			env.Started = func(g Group) (string, error) {
				told = g
				if _, err := os.Stat(ran); err == nil {
					t.Error("the script ran before Started returned")
				}
				if !g.alive() {
					t.Error("Started was told of a group that is not running")
				}
				return "started 7", tt.failed
			}
			err := Run(context.Background(), "install.sh", env, nil)
			if told.PGID <= 1 {
				t.Fatalf("Started told of group %d", told.PGID)
			}
			if tt.failed != nil {
				if !errors.Is(err, tt.failed) {
					t.Fatalf("Run = %v, want Started's error", err)
				}
				if _, err := os.Stat(ran); err == nil {
					t.Fatal("the script ran although Started failed")
				}
				if told.alive() {
					t.Fatal("the held process still runs")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			seen, err := os.ReadFile(ran)
			if err != nil {
				t.Fatal("the script did not run")
			}
			if string(seen) != tt.wantMarks {
				t.Fatalf("the script saw the marks %q, want %q", seen, tt.wantMarks)
			}
			if b, _ := os.ReadFile(fds); len(b) > 0 {
				t.Fatalf("the script has fds open: %q", b)
			}
		})
	}
}
