package install

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/state"
)

// TestUpgradeSaysWhatItMoves: upgrade's plan ends with the sizes install's
// has, the installed size and its net change included, and its last lines
// say what moved where ("upgraded app 1.0.0 -> 1.1.0"), not "installed
// app 1.1.0" (a newcomer's run).
func TestUpgradeSaysWhatItMoves(t *testing.T) {
	ctx := context.Background()
	w := installedApp(t)
	w.publish(w.pkg("app", "1.1.0", map[string]string{"assets/a": strings.Repeat("2", 4000)}))
	w.out.Reset()
	if err := w.client.Upgrade(ctx, nil, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	out := w.out.String()
	for _, want := range []string{
		`(?m)^Upgrade plan \(1\):\n  app 1\.0\.0 -> 1\.1\.0\n`,
		`(?m)^Total download size:  [0-9.]+ (B|KiB)( \([0-9.]+ (B|KiB) already in the cache\))?$`,
		`(?m)^Total installed size: [0-9.]+ KiB$`,
		`(?m)^Net upgrade size:     \+[0-9.]+ KiB$`,
		`(?m)^upgraded app 1\.0\.0 -> 1\.1\.0$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output does not match %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "installed app 1.1.0") {
		t.Errorf("the upgrade said it installed:\n%s", out)
	}
}

func TestDoneLine(t *testing.T) {
	for _, tt := range []struct {
		old, version, want string
	}{
		{"", "1.0.0", "installed app 1.0.0"},
		{"1.0.0", "1.1.0", "upgraded app 1.0.0 -> 1.1.0"},
		{"1.1.0", "1.0.0", "downgraded app 1.1.0 -> 1.0.0"},
		{"1.0.0", "1.0.0+b", "replaced app 1.0.0 -> 1.0.0+b"},
		{"1.0.0", "1.0.0", "reinstalled app 1.0.0"},
	} {
		var old *state.Record
		if tt.old != "" {
			old = &state.Record{Name: "app", Version: tt.old}
		}
		if got := doneLine(old, "app", tt.version); got != tt.want {
			t.Errorf("doneLine(%q, %q) = %q, want %q", tt.old, tt.version, got, tt.want)
		}
	}
}

// The plan's download size says how much of the plan's archives the cache
// holds: a plan whose archives were all cached said "0 B" and no more (a
// newcomer's install after an uninstall), where apt says "Need to get
// 0 B/19.1 MB of archives".
func TestDownloadSizeString(t *testing.T) {
	for _, tt := range []struct {
		size downloadSize
		want string
	}{
		{downloadSize{total: 2048}, "2.0 KiB"},
		{downloadSize{cached: 2048}, "0 B (2.0 KiB already in the cache)"},
		{downloadSize{total: 1024, cached: 2048}, "1.0 KiB (2.0 KiB already in the cache)"},
		{downloadSize{total: 2048, kept: 1024}, "1.0 KiB of 2.0 KiB (1.0 KiB kept from an interrupted download)"},
		{downloadSize{total: 2048, kept: 1024, cached: 300}, "1.0 KiB of 2.0 KiB (1.0 KiB kept from an interrupted download; 300 B already in the cache)"},
		{downloadSize{}, "0 B"},
	} {
		if got := tt.size.String(); got != tt.want {
			t.Errorf("%+v: %q; want %q", tt.size, got, tt.want)
		}
	}
}

// An install whose archive is cached (the world puts it there, as an
// install before an uninstall leaves it) says it downloads nothing because
// the cache has the archive.
func TestPlanSaysCached(t *testing.T) {
	w := installedApp(t)
	if want := `(?m)^Total download size:  0 B \([0-9.]+ (B|KiB) already in the cache\)$`; !regexp.MustCompile(want).MatchString(w.out.String()) {
		t.Errorf("output does not match %s:\n%s", want, w.out)
	}
}

func TestSignedBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 300: "+300 B", -300: "-300 B", 2048: "+2.0 KiB"} {
		if got := signedBytes(n); got != want {
			t.Errorf("signedBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// upgrade NAME of a held package with a newer version says it is held and
// that nothing else is to upgrade: it said "everything is up to date" under
// the warning (a newcomer's run).
func TestUpgradeNamedHeld(t *testing.T) {
	ctx := context.Background()
	w := installedApp(t)
	if err := w.client.Hold(ctx, []string{"app"}, true); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("app", "1.1.0", map[string]string{"assets/a": "2"}))
	w.out.Reset()
	if err := w.client.Upgrade(ctx, []string{"app"}, false); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	out := w.out.String()
	if !strings.Contains(out, "warning: app is held at 1.0.0: not upgrading it (dist-client unhold app)") ||
		!strings.Contains(out, "nothing else to upgrade") || strings.Contains(out, "up to date") {
		t.Errorf("upgrade app of a held app said:\n%s\nwant the warning and 'nothing else to upgrade'", out)
	}
}

// A reinstall's plan says so: it named the package "app 1.0.0 -> 1.0.0",
// as a move (a newcomer's run).
func TestPlanNamesReinstall(t *testing.T) {
	ctx := context.Background()
	w := installedApp(t)
	w.out.Reset()
	w.client.Reinstall = true
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	if want := "Packages (1): app 1.0.0 (reinstall)\n"; !strings.Contains(w.out.String(), want) {
		t.Errorf("install --reinstall app said:\n%s\nwant %q", w.out, want)
	}
}

// installedApp is a world where app 1.0.0 is installed.
func installedApp(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/a": "1"}))
	if err := w.client.Install(context.Background(), []string{"app"}); err != nil {
		t.Fatalf("%v\n%s", err, w.out)
	}
	return w
}
