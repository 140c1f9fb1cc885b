package install

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestCrashBetweenNoteAndStart kills an upgrade after a script's note is
// on the disk and before the script runs (its process waits at the gate
// of script.Env.Started, and ends when the killed dist-client's end of it
// closes). The recovery must not take the script as started: it ran the
// uninstall.sh of a version whose install.sh never ran (a note was taken
// as a start), and said an uninstall.sh that never ran "was stopped by the
// kill". Now the script never runs, nothing undoes it, and the command
// reads as interrupted before it changed anything (or, when the old
// version's uninstall.sh had run, that version is restored).
func TestCrashBetweenNoteAndStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process per step")
	}
	for _, tt := range []struct {
		at      string
		wantLog []string // the scripts that ran, after the first install
		said    []string // the recovery's sentences on scripts
	}{
		// The old version's uninstall.sh ran, then the new one's
		// install.sh was noted: the old version is restored.
		{"noted install.sh", []string{"app 1.0.0 uninstall", "app 1.0.0 install"}, []string{"uninstall.sh of app 1.0.0 had run for a change that did not finish; installed app 1.0.0 again (its install.sh ran)"}},
		// The old version's uninstall.sh was noted: nothing ran.
		{"noted uninstall.sh", nil, nil},
	} {
		t.Run(tt.at, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			scripts := func(v string) map[string]string {
				return map[string]string{
					"assets/f":             v,
					"scripts/install.sh":   destdirScript("app") + w.logScript("install"),
					"scripts/uninstall.sh": w.logScript("uninstall"),
				}
			}
			w.publish(w.pkg("app", "1.0.0", scripts("1")))
			if err := w.client.Install(ctx, []string{"app"}); err != nil {
				t.Fatal(err)
			}
			w.publish(w.pkg("app", "1.1.0", scripts("2")))
			before := len(w.lines())

			killedAt(t, w.dir, tt.at)

			w2 := worldAt(t, w.dir)
			rec, err := w2.client.Recover(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.lines()[before:]; !slices.Equal(got, tt.wantLog) {
				t.Errorf("scripts run since the upgrade began: %q, want %q", got, tt.wantLog)
			}
			var said []string
			for _, s := range rec.Scripts {
				said = append(said, s.Said)
			}
			if !slices.Equal(said, tt.said) {
				t.Errorf("the recovery said %q, want %q", said, tt.said)
			}
			if tt.said == nil && (rec.Result != "" || !slices.Equal(rec.Interrupted, []string{"upgrade"})) {
				t.Errorf("recovery %q, interrupted %q: want the upgrade interrupted before it changed anything", rec.Result, rec.Interrupted)
			}
			w2.consistent()
			if r, _ := w2.state().Get("app"); r.Version != "1.0.0" {
				t.Fatalf("app %s recorded, want 1.0.0", r.Version)
			}
			if err := w2.client.Upgrade(ctx, nil, false); err != nil {
				t.Fatal(err)
			}
			if r, _ := w2.state().Get("app"); r.Version != "1.1.0" {
				t.Fatalf("the upgrade after recovery left %s", r.Version)
			}
		})
	}
}

// lines are the script log's lines (logScript).
func (w *world) lines() []string {
	return strings.FieldsFunc(w.scriptLog(), func(r rune) bool { return r == '\n' })
}
