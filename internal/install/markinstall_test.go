package install

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// Installing a dependency by name marks it explicit, and says so only once
// the mark is recorded: the line came before the plan was checked, so an
// install refused (the package held) or failed (a script) said "lib: now
// installed explicitly (it was a dependency)" and left lib a dependency (a
// newcomer's run).
func TestInstallByNameSaysMarkOnlyWhenDone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	const said = "lib: now installed explicitly (it was a dependency)"
	w.publish(
		w.pkg("lib", "1.0.0", map[string]string{"assets/lib/x": "1"}),
		w.pkg("lib", "1.1.0", map[string]string{"assets/lib/x": "1.1"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "version: 1.0.0\ndepends: [lib]\n", "assets/app/x": "x"}),
		w.pkg("bad", "1.0.0", map[string]string{"assets/bad/x": "x", "scripts/install.sh": "exit 4\n"}),
	)
	if err := w.client.Install(ctx, []string{"app", "lib@1.0.0"}); err != nil {
		t.Fatal(err)
	}
	if err := w.client.Mark(ctx, []string{"lib"}, false); err != nil {
		t.Fatal(err)
	}
	if err := w.client.Hold(ctx, []string{"lib"}, true); err != nil {
		t.Fatal(err)
	}
	stillDependency := func(what string) {
		t.Helper()
		if r, ok := w.state().Get("lib"); !ok || !r.Auto {
			t.Errorf("%s: lib recorded %+v, want still a dependency", what, r)
		}
		if strings.Contains(w.out.String(), said) {
			t.Errorf("%s said %q:\n%s", what, said, w.out)
		}
	}

	w.out.Reset()
	if err := w.client.Install(ctx, []string{"lib@1.1.0"}); err == nil || !strings.Contains(err.Error(), "held") {
		t.Fatalf("install lib@1.1.0 of a held lib: %v", err)
	}
	stillDependency("install lib@1.1.0, refused as held")

	w.out.Reset()
	if err := w.client.Install(ctx, []string{"lib", "bad"}); err == nil || !strings.Contains(err.Error(), "exited with status 4") {
		t.Fatalf("install lib bad: %v", err)
	}
	stillDependency("install lib bad, bad's script failing")

	w.out.Reset()
	if err := w.client.Install(ctx, []string{"lib"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := w.state().Get("lib"); r.Auto || !strings.Contains(w.out.String(), said) {
		t.Errorf("install lib: recorded %+v, said:\n%s", r, w.out)
	}
}

// Installing a dependency by name records the mark in the command's
// changes, as mark --explicit does: history showed "install lib01  -  0 B
// ok" for an install that only made lib01 explicit (a soak run), and
// nothing of the mark when the install placed other packages too, so no
// entry said why a later uninstall --cascade kept lib01.
func TestInstallByNameRecordsTheMark(t *testing.T) {
	ctx := context.Background()
	marked := state.HistoryChange{Name: "lib", Version: "1.0.0", Mark: state.MarkExplicit}
	for _, tc := range []struct {
		name    string
		install []string
		want    []state.HistoryChange
	}{
		{"only the mark", []string{"lib"}, []state.HistoryChange{marked}},
		{"the mark and a new package", []string{"lib", "tool"}, []state.HistoryChange{{Name: "tool", To: "1.0.0"}, marked}},
		{"the mark and an upgrade of it", []string{"lib@1.1.0"}, []state.HistoryChange{{Name: "lib", From: "1.0.0", To: "1.1.0"}, {Name: "lib", Version: "1.1.0", Mark: state.MarkExplicit}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.publish(
				w.pkg("lib", "1.0.0", map[string]string{"assets/lib/x": "1"}),
				w.pkg("lib", "1.1.0", map[string]string{"assets/lib/x": "1.1"}),
				w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "version: 1.0.0\ndepends: [lib]\n", "assets/app/x": "x"}),
				w.pkg("tool", "1.0.0", map[string]string{"assets/tool/x": "t"}),
			)
			if err := w.client.Install(ctx, []string{"app", "lib@1.0.0"}); err != nil {
				t.Fatal(err)
			}
			if err := w.client.Mark(ctx, []string{"lib"}, false); err != nil {
				t.Fatal(err)
			}
			if err := w.client.Install(ctx, tc.install); err != nil {
				t.Fatal(err)
			}
			if r, _ := w.state().Get("lib"); r.Auto {
				t.Fatalf("lib recorded %+v, want explicit", r)
			}
			h := w.history()
			last := h[len(h)-1]
			if last.Command != "install "+strings.Join(tc.install, " ") || !slices.Equal(last.Changes, tc.want) {
				t.Errorf("history's last entry: %q %+v, want changes %+v", last.Command, last.Changes, tc.want)
			}
			if w.client.Last == nil || !slices.Equal(w.client.Last.Changes, tc.want) {
				t.Errorf("install --json's changes: %+v, want %+v", w.client.Last, tc.want)
			}
		})
	}
}
