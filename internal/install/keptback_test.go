package install

import (
	"context"
	"strings"
	"testing"
)

// A package whose newest version needs something that conflicts with an
// installed package is kept back, and every command says so and why:
// install put the older version in without a word, and upgrade, list
// --upgradable and status said everything was up to date (a newcomer's
// run).
func TestKeptBackIsExplained(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("hello", "1.0.0", map[string]string{"assets/hello/x": "x"}))
	if err := w.client.Install(ctx, []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	w.publish(
		w.pkg("tiny", "0.1.0", map[string]string{"manifest.yaml": "name: tiny\nversion: 0.1.0\nconflicts:\n  - hello <2\n", "assets/tiny/x": "x"}),
		w.pkg("mytool", "1.1.0", map[string]string{"assets/mytool/x": "1.1"}),
		w.pkg("mytool", "1.2.0", map[string]string{"manifest.yaml": "name: mytool\nversion: 1.2.0\ndepends:\n  - tiny ~0.1\n", "assets/mytool/x": "1.2"}),
	)
	const why = "tiny 0.1.0 conflicts with hello <2 (installed 1.0.0)"

	w.out.Reset()
	if err := w.client.Install(ctx, []string{"mytool"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if want := "not the newest: mytool 1.2.0 cannot be installed: " + why + "; mytool 1.1.0 is the newest that can"; !strings.Contains(w.out.String(), want) {
		t.Errorf("install said:\n%s\nwant %q", w.out, want)
	}
	if k := w.client.Last.KeptBack; len(k) != 1 || k[0] != (KeptBack{Name: "mytool", Version: "1.1.0", Newest: "1.2.0", Why: why}) {
		t.Errorf("install --json kept_back = %+v", k)
	}

	moves, held, kept, err := w.client.Upgradable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Where hello may move too (an upgrade of everything), the resolver
	// says it selected hello 1.0.0, the only version.
	const whyAll = "tiny 0.1.0 conflicts with hello <2 (selected 1.0.0)"
	if len(moves) != 0 || len(held) != 0 || len(kept) != 1 || kept[0].Name != "mytool" || kept[0].Why != whyAll {
		t.Errorf("Upgradable = %v, %v, %+v", moves, held, kept)
	}

	w.out.Reset()
	if err := w.client.Upgrade(ctx, nil, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	out := w.out.String()
	if !strings.Contains(out, "kept back: mytool 1.1.0 (1.2.0: "+whyAll+")") || strings.Contains(out, "everything is up to date") ||
		!strings.Contains(out, "nothing else to upgrade") {
		t.Errorf("upgrade said:\n%s", out)
	}

	// Once the conflict is gone (hello removed), nothing is kept back and
	// the upgrade takes 1.2.0.
	if err := w.client.Uninstall(ctx, []string{"hello"}, false); err != nil {
		t.Fatal(err)
	}
	if _, _, kept, err := w.client.Upgradable(ctx); err != nil || len(kept) != 0 {
		t.Errorf("Upgradable after hello went: kept %+v, %v", kept, err)
	}
	w.out.Reset()
	if err := w.client.Upgrade(ctx, nil, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if out := w.out.String(); strings.Contains(out, "kept back") || !strings.Contains(out, "mytool 1.1.0 -> 1.2.0") {
		t.Errorf("upgrade without the conflict said:\n%s", out)
	}
}

// A version kept back by an installed package's constraint is explained
// by that constraint alone. The reason is the resolver's for a plan that
// asks for the newest version by name, and it read "libnet 1.0.0 depends
// on libcore >=1.0, <2, you asked for libcore =2.0.0, and no version of
// libcore satisfies both" in upgrade, list --upgradable and status, where
// nobody asked for libcore 2.0.0 (a newcomer's run).
func TestKeptBackByAConstraint(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(
		w.pkg("libcore", "1.0.0", map[string]string{"assets/libcore/x": "1"}),
		w.pkg("libnet", "1.0.0", map[string]string{"manifest.yaml": "name: libnet\nversion: 1.0.0\ndepends:\n  - libcore >=1.0, <2\n", "assets/libnet/x": "x"}),
		w.pkg("libtls", "1.0.0", map[string]string{"manifest.yaml": "name: libtls\nversion: 1.0.0\ndepends:\n  - libcore <2\n", "assets/libtls/x": "x"}),
	)
	if err := w.client.Install(ctx, []string{"libnet", "libtls"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("libcore", "2.0.0", map[string]string{"assets/libcore/x": "2"}))

	_, _, kept, err := w.client.Upgradable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(kept) != 1 || kept[0].Name != "libcore" || kept[0].Newest != "2.0.0" ||
		(kept[0].Why != "libnet 1.0.0 depends on libcore >=1.0, <2" && kept[0].Why != "libtls 1.0.0 depends on libcore <2") {
		t.Errorf("Upgradable kept back %+v; want libcore 2.0.0 explained by the constraint of libnet or libtls alone", kept)
	}
	w.out.Reset()
	if err := w.client.Upgrade(ctx, []string{"libcore"}, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if out := w.out.String(); !strings.Contains(out, "kept back: libcore 1.0.0 (2.0.0: installed lib") || strings.Contains(out, "you asked for") {
		t.Errorf("upgrade libcore said:\n%s", out)
	}
}
