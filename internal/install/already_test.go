package install

import (
	"context"
	"strings"
	"testing"
)

// TestAlreadyInstalledSaysNewer: asked for an installed package by name
// alone, install says so and, when the catalog has a version upgrade would
// move it to, names that version and `upgrade` (pacman -S and apt install
// would have moved it); a pre-release above a stable installed version is
// not one, and a request for a version gets the --reinstall words. Before,
// every case said only "is already installed (--reinstall installs it
// again)", with 1.1.0 published (a newcomer's run).
func TestAlreadyInstalledSaysNewer(t *testing.T) {
	tests := []struct {
		name      string
		published []string // after 1.0.0 is installed
		request   string
		want      string
	}{
		{"a newer version", []string{"1.1.0", "1.2.0", "2.0.0-rc.1"}, "app",
			"app 1.0.0 is already installed; 1.2.0 is newer: dist-client upgrade app moves it there (--reinstall installs 1.0.0 again)"},
		{"only a pre-release above", []string{"2.0.0-rc.1"}, "app",
			"app 1.0.0 is already installed (--reinstall installs it again)"},
		{"nothing newer", nil, "app",
			"app 1.0.0 is already installed (--reinstall installs it again)"},
		{"the version asked for", []string{"1.1.0"}, "app@1.0.0",
			"app 1.0.0 is already installed (--reinstall installs it again)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": "1.0.0"}))
			if err := w.client.Install(ctx, []string{"app"}); err != nil {
				t.Fatalf("install: %v\n%s", err, w.out)
			}
			for _, v := range tt.published {
				w.publish(w.pkg("app", v, map[string]string{"assets/bin/app": v}))
			}
			w.out.Reset()
			if err := w.client.Install(ctx, []string{tt.request}); err != nil {
				t.Fatalf("install %s again: %v\n%s", tt.request, err, w.out)
			}
			if got := strings.TrimSpace(w.out.String()); got != tt.want {
				t.Errorf("install %s again said:\n%s\nwant:\n%s", tt.request, got, tt.want)
			}
			if r, _ := w.state().Get("app"); r.Version != "1.0.0" {
				t.Errorf("app is at %s after install of an installed package, want 1.0.0 kept", r.Version)
			}
		})
	}
}

// TestInstallSaysWhichAreInstalled: an install of several packages, some
// installed, says of those that they are, before the plan of the others,
// as install of one installed package alone does (and apt's "is already
// the newest version"). Before, `install app lib` with app installed
// planned lib and said nothing of app (a newcomer's run).
func TestInstallSaysWhichAreInstalled(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": "1.0.0"}))
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("install: %v\n%s", err, w.out)
	}
	w.publish(w.pkg("lib", "1.0.0", map[string]string{"assets/lib/lib.so": "1.0.0"}))
	w.out.Reset()
	if err := w.client.Install(ctx, []string{"app", "lib", "app"}); err != nil {
		t.Fatalf("install app lib: %v\n%s", err, w.out)
	}
	out := w.out.String()
	// install --json lists it too (it said only "changes": []).
	if got := w.client.Last.AlreadyInstalled; len(got) != 1 || got[0] != "app 1.0.0" {
		t.Errorf("the summary's already installed: %q, want [app 1.0.0]", got)
	}
	const said = "app 1.0.0 is already installed (--reinstall installs it again)\n"
	if strings.Count(out, said) != 1 {
		t.Errorf("install app lib app said:\n%s\nwant once: %s", out, said)
	}
	if i, j := strings.Index(out, said), strings.Index(out, "Packages (1): lib 1.0.0"); i < 0 || j < 0 || i > j {
		t.Errorf("install app lib app said:\n%s\nwant %q before the plan of lib alone", out, said)
	}
	if _, ok := w.state().Get("lib"); !ok {
		t.Errorf("lib is not installed after install app lib")
	}
}
