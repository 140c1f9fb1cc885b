package install

import (
	"context"
	"testing"
)

// TestDependenciesMoveWithTheirDependent: app 2.0.0 needs libfoo ^2 and
// libfoo 1.1.0 was installed as app 1.0.0's dependency. `upgrade app`
// said everything was up to date (libfoo stayed pinned, so app 2.0.0 was
// out of reach) while list --upgradable listed app, and `install
// app@2.0.0` failed with "libfoo 1.1.0 is installed and is not being
// upgraded". Both now move libfoo along; a package app does not depend on
// stays.
func TestDependenciesMoveWithTheirDependent(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func(w *world) error
	}{
		{"upgrade app", func(w *world) error { return w.client.Upgrade(context.Background(), []string{"app"}, false) }},
		{"install app@2.0.0", func(w *world) error { return w.client.Install(context.Background(), []string{"app@2.0.0"}) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			w.publish(
				w.pkg("libfoo", "1.0.0", map[string]string{"assets/libfoo": "1.0"}),
				w.pkg("libfoo", "1.1.0", map[string]string{"assets/libfoo": "1.1"}),
				w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends: [libfoo ^1.0]\n", "assets/app": "1"}),
				w.pkg("other", "1.0.0", map[string]string{"assets/other": "1"}),
			)
			if err := w.client.Install(ctx, []string{"app@1.0.0", "other"}); err != nil {
				t.Fatalf("%v\n%s", err, w.out)
			}
			w.publish(
				w.pkg("libfoo", "2.0.0", map[string]string{"assets/libfoo": "2.0"}),
				w.pkg("app", "2.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 2.0.0\ndepends: [libfoo ^2.0]\n", "assets/app": "2"}),
				w.pkg("other", "1.1.0", map[string]string{"assets/other": "1.1"}),
			)
			if err := tt.run(w); err != nil {
				t.Fatalf("%v\n%s", err, w.out)
			}
			st := w.state()
			for name, want := range map[string]string{"app": "2.0.0", "libfoo": "2.0.0", "other": "1.0.0"} {
				if r, _ := st.Get(name); r.Version != want {
					t.Errorf("%s is at %s; want %s\n%s", name, r.Version, want, w.out)
				}
			}
			if r, _ := st.Get("libfoo"); !r.Auto {
				t.Errorf("libfoo lost its mark as a dependency: %+v", r)
			}
			w.consistent()
		})
	}
}

// TestUpgradeNameLeavesUnrelated: an old version of app (not installed,
// never to be chosen) depended on tool, which the user installed explicitly for its own sake: `upgrade app`
// must not move tool.
func TestUpgradeNameLeavesUnrelated(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("tool", "1.0.0", map[string]string{"assets/tool": "1.0"}),
		w.pkg("app", "0.9.0", map[string]string{"manifest.yaml": "name: app\nversion: 0.9.0\ndepends: [tool]\n", "assets/app": "0.9"}),
		w.pkg("app", "1.0.0", map[string]string{"assets/app": "1"}),
	)
	if err := w.client.Install(ctx, []string{"app@1.0.0", "tool"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	w.publish(
		w.pkg("tool", "1.1.0", map[string]string{"assets/tool": "1.1"}),
		w.pkg("app", "1.1.0", map[string]string{"assets/app": "1.1"}),
	)
	if err := w.client.Upgrade(ctx, []string{"app"}, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	st := w.state()
	for name, want := range map[string]string{"app": "1.1.0", "tool": "1.0.0"} {
		if r, _ := st.Get(name); r.Version != want {
			t.Errorf("%s is at %s; want %s\n%s", name, r.Version, want, w.out)
		}
	}
}

// TestInstallMovesOnlyWhatIsNeeded: install app@2.0.0 needs libfoo to
// move; libbar, which app 2.0.0 accepts at its installed version, need not
// (found by a review: the retry moved every dependency to its newest).
func TestInstallMovesOnlyWhatIsNeeded(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("libfoo", "1.1.0", map[string]string{"assets/libfoo": "1.1"}),
		w.pkg("libbar", "1.0.0", map[string]string{"assets/libbar": "1.0"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends: [libfoo ^1.0, libbar ^1.0]\n", "assets/app": "1"}),
	)
	if err := w.client.Install(ctx, []string{"app@1.0.0"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	w.publish(
		w.pkg("libfoo", "2.0.0", map[string]string{"assets/libfoo": "2.0"}),
		w.pkg("libbar", "1.5.0", map[string]string{"assets/libbar": "1.5"}),
		w.pkg("app", "2.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 2.0.0\ndepends: [libfoo ^2.0, libbar ^1.0]\n", "assets/app": "2"}),
	)
	if err := w.client.Install(ctx, []string{"app@2.0.0"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	st := w.state()
	for name, want := range map[string]string{"app": "2.0.0", "libfoo": "2.0.0", "libbar": "1.0.0"} {
		if r, _ := st.Get(name); r.Version != want {
			t.Errorf("%s is at %s; want %s\n%s", name, r.Version, want, w.out)
		}
	}
}

// TestDependencyNameCase: app spells its dependency LibGreet; the catalog
// and the installed record say libgreet. Before, the install planned a
// second libgreet and failed on its own file (found by a review).
func TestDependencyNameCase(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("libgreet", "1.0.0", map[string]string{"assets/lib/greet": "1"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends: [LibGreet]\n", "assets/app": "1"}),
	)
	if err := w.client.Install(ctx, []string{"libgreet"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
}

// TestInstallOlderVersionMovesItsDependency: app 2.0.0 is installed (it
// needs nothing); libbar 1.0.0 is installed for tool. `install app@1.9.0`
// asks for an older app, which needs libbar ^1.5: libbar must move with
// it, as any other install's dependency does. (A review found dependencyClosure's floor, versions at or above the
// installed one, skipping app 1.9.0, the very version asked for.)
func TestInstallOlderVersionMovesItsDependency(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("libbar", "1.0.0", map[string]string{"assets/libbar": "1.0"}),
		w.pkg("tool", "1.0.0", map[string]string{"manifest.yaml": "name: tool\nversion: 1.0.0\ndepends: [libbar ^1.0]\n", "assets/tool": "1"}),
		w.pkg("app", "2.0.0", map[string]string{"assets/app": "2"}),
	)
	if err := w.client.Install(ctx, []string{"app", "tool"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	w.publish(
		w.pkg("libbar", "1.5.0", map[string]string{"assets/libbar": "1.5"}),
		w.pkg("app", "1.9.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.9.0\ndepends: [libbar ^1.5]\n", "assets/app": "1.9"}),
	)
	if err := w.client.Install(ctx, []string{"app@1.9.0"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	st := w.state()
	for name, want := range map[string]string{"app": "1.9.0", "libbar": "1.5.0", "tool": "1.0.0"} {
		if r, _ := st.Get(name); r.Version != want {
			t.Errorf("%s is at %s; want %s\n%s", name, r.Version, want, w.out)
		}
	}
}
