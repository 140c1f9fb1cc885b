package clientcli

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/installed"
)

func TestUnknownHint(t *testing.T) {
	known := []string{"hello", "help", "libgreet"}
	const fallback = "dist-client search TERM finds packages"
	tests := []struct {
		requests []string
		want     string
		ok       bool
	}{
		{[]string{"hello"}, "", false},
		{[]string{"HELLO", "libgreet@1.0.0"}, "", false}, // names match ignoring case; @ parts are not names
		{[]string{"helo"}, "did you mean hello or help? (" + fallback + ")", true},
		{[]string{"libgret@>=1"}, "did you mean libgreet? (" + fallback + ")", true},
		{[]string{"hello", "libgret"}, "did you mean libgreet? (" + fallback + ")", true},
		{[]string{"helo", "libgret"}, "helo: did you mean hello or help?; libgret: did you mean libgreet? (" + fallback + ")", true},
		{[]string{"zzzzzz"}, fallback, true},
		{[]string{"hello@bogus"}, "", false},                                             // a bad constraint of a known name
		{[]string{"helo@bogus"}, "did you mean hello or help? (" + fallback + ")", true}, // of an unknown one
	}
	for _, tt := range tests {
		got, ok := unknownHint(tt.requests, known, fallback)
		if got != tt.want || ok != tt.ok {
			t.Errorf("unknownHint(%q) = %q, %v; want %q, %v", tt.requests, got, ok, tt.want, tt.ok)
		}
	}
}

// TestCatalogHint: a name the catalog lacks may have been published after
// the last sync, so the hint says when that was and what fetches the
// newest, after the did-you-mean; before, it said only "dist-client search
// TERM finds packages".
func TestCatalogHint(t *testing.T) {
	known := []string{"hello", "libgreet"}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.Local)
	synced := now.Add(-3 * time.Hour)
	const note = "the catalog was last synced 3h ago (2026-12-03 09:00:00): dist-client sync fetches the newest"
	tests := []struct {
		requests []string
		synced   lastSync
		want     string
		ok       bool
	}{
		{[]string{"hello"}, lastSync{At: synced}, "", false},
		{[]string{"app"}, lastSync{At: synced}, "dist-client search TERM finds packages; " + note, true},
		{[]string{"helo"}, lastSync{At: synced}, "did you mean hello? (dist-client search TERM finds packages); " + note, true},
		{[]string{"app"}, lastSync{}, "dist-client search TERM finds packages; dist-client sync fetches the newest catalog", true},
	}
	for _, tt := range tests {
		got, ok := catalogHint(tt.requests, known, tt.synced, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("catalogHint(%q, %v) = %q, %v; want %q, %v", tt.requests, tt.synced, got, ok, tt.want, tt.ok)
		}
	}
	if got, want := syncedNote(lastSync{At: now.Add(-20 * 24 * time.Hour)}, now), "the catalog was last synced 20d ago (2026-11-13 12:00:00): dist-client sync fetches the newest"; got != want {
		t.Errorf("syncedNote 20 days ago = %q, want %q", got, want)
	}
}

// TestSyncedNoteRecent: within a minute of a sync, the hints leave out
// the advice to sync (a newcomer's run read "the catalog was last synced
// 1s ago …: dist-client sync fetches the newest" right after a sync).
// Past it, and behind a mirror (the advice is then --from), they keep it.
func TestSyncedNoteRecent(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.Local)
	known := []string{"hello"}
	for _, tt := range []struct {
		name   string
		synced lastSync
		note   bool // syncedNote says something
		hint   string
	}{
		{"1s ago", lastSync{At: now.Add(-time.Second)}, false, "did you mean hello? (dist-client search TERM finds packages)"},
		{"59s ago", lastSync{At: now.Add(-59 * time.Second)}, false, "did you mean hello? (dist-client search TERM finds packages)"},
		{"a minute ago", lastSync{At: now.Add(-time.Minute)}, true, "did you mean hello? (dist-client search TERM finds packages); the catalog was last synced 60s ago (2026-12-03 11:59:00): dist-client sync fetches the newest"},
		{"in the future (a clock set back)", lastSync{At: now.Add(time.Hour)}, true, ""},
		{"1s ago, behind a mirror", lastSync{At: now.Add(-time.Second), From: "http://m", Behind: []catalogclient.Demoted{{URL: "http://p"}}}, true, ""},
	} {
		if got := syncedNote(tt.synced, now); (got != "") != tt.note {
			t.Errorf("%s: syncedNote = %q; want a note: %v", tt.name, got, tt.note)
		}
		if tt.hint == "" {
			continue
		}
		if got, _ := catalogHint([]string{"helo"}, known, tt.synced, now); got != tt.hint {
			t.Errorf("%s: catalogHint =\n %q, want\n %q", tt.name, got, tt.hint)
		}
	}
}

// TestSyncedNoteBehindMirror: a last sync that took a mirror's catalog
// past primaries that failed lately says so, and until when a sync takes
// the mirror's again, instead of "dist-client sync fetches the newest".
func TestSyncedNoteBehindMirror(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.Local)
	at := now.Add(-30 * time.Second)
	one := lastSync{At: at, From: "http://m:9090", Behind: []catalogclient.Demoted{{URL: "http://p:9090", Failed: now.Add(-4 * time.Minute), Until: now.Add(6 * time.Minute)}}}
	if got, want := syncedNote(one, now), "the catalog came 30s ago from http://m:9090, which may lag behind http://p:9090, "+
		"passed over after a failed sync: dist-client sync --from http://p:9090 syncs from it now"; got != want {
		t.Errorf("one passed over:\n got %q\nwant %q", got, want)
	}
	two := one
	two.Behind = append(slices.Clone(one.Behind), catalogclient.Demoted{URL: "http://q:9090", Failed: now.Add(-1 * time.Minute), Until: now.Add(9 * time.Minute)})
	if got := syncedNote(two, now); !strings.Contains(got, "behind http://p:9090 and http://q:9090, passed over after failed syncs: dist-client sync --from http://p:9090 ") {
		t.Errorf("two passed over: %q", got)
	}
	// An install's hint for a name the mirror's catalog lacks: the
	// lag and what takes the newest, not the search advice beside it
	// (with the date and a plain sync's fate until when, 370 characters
	// with loopback URLs); a close name is still suggested.
	wide := lastSync{At: at, From: "http://127.0.0.1:29898", Behind: []catalogclient.Demoted{{URL: "http://127.0.0.1:29895", Until: now.Add(6 * time.Minute)}}}
	hint, _ := catalogHint([]string{"nosuch"}, []string{"hello"}, wide, now)
	if len(hint) > 200 || strings.Contains(hint, "search") {
		t.Errorf("install nosuch behind a mirror: a %d-character hint (want at most 200, no search advice): %q", len(hint), hint)
	}
	if hint, _ := catalogHint([]string{"helo"}, []string{"hello"}, wide, now); !strings.HasPrefix(hint, "did you mean hello?") {
		t.Errorf("install helo behind a mirror: %q, want the close name first", hint)
	}
}

func TestCountPaths(t *testing.T) {
	for _, tt := range []struct {
		v    installed.Verified
		want string
	}{
		{installed.Verified{Files: 1, Directories: 2}, "1 file, 2 directories"},
		{installed.Verified{Files: 2, Symlinks: 1, Directories: 1}, "2 files, 1 symlink, 1 directory"},
		{installed.Verified{Files: 3}, "3 files"},
		{installed.Verified{}, "0 files"},
	} {
		if got := countPaths(tt.v); got != tt.want {
			t.Errorf("countPaths(%+v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

// TestClipList: the history table's long cells end in a count of what is
// left out (an install of 250 packages was one 2,700-character row).
func TestClipList(t *testing.T) {
	many := make([]string, 250)
	for i := range many {
		many[i] = fmt.Sprintf("p%03d", i)
	}
	tests := []struct {
		items []string
		sep   string
		max   int
		want  string
	}{
		{[]string{"install", "hello"}, " ", 80, "install hello"},
		{nil, " ", 80, ""},
		{append([]string{"install"}, many...), " ", 30, "install p000 p001 p002 p003 … and 246 more"},
		{[]string{"+a 1.0.0", "+b 1.0.0", "+c 1.0.0"}, ", ", 20, "+a 1.0.0, +b 1.0.0 … and 1 more"},
		{[]string{strings.Repeat("x", 100)}, " ", 10, strings.Repeat("x", 100)}, // one item is kept whole
	}
	for _, tt := range tests {
		if got := clipList(tt.items, tt.sep, tt.max); got != tt.want {
			t.Errorf("clipList(%d items, %d) = %q, want %q", len(tt.items), tt.max, got, tt.want)
		}
	}
}
