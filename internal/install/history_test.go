package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/state"
)

// TestHistoryShowsDeadCommandsInterrupted: a command killed with -9 leaves
// its entry "running", and history showed it so until the next command
// that took the lock recorded it interrupted. Now history shows an entry
// whose command no longer holds the lock as interrupted at once, and
// leaves the recording to that next command.
func TestHistoryShowsDeadCommandsInterrupted(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// What a killed install leaves: its entry started, its lock gone with
	// the process.
	db, err := state.Open(ctx, w.client.Paths.Installed(), w.client.Config.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.StartHistory(ctx, "install big")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	recorded := func() string {
		t.Helper()
		db, _, err := state.OpenRead(ctx, w.client.Paths.Installed())
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		h, err := db.History(ctx, state.HistoryQuery{Transfer: true})
		if err != nil || len(h) != 1 {
			t.Fatalf("recorded history: %v, %v", h, err)
		}
		return h[0].Result
	}
	for _, tt := range []struct {
		name string
		hold bool // a live command holds the lock
		want string
	}{
		{"lock free: the command died", false, state.ResultInterrupted},
		{"lock held: the command runs", true, state.ResultRunning},
	} {
		var lock *state.Lock
		if tt.hold {
			if lock, err = state.Acquire(ctx, w.client.Paths.Lock(), nil); err != nil {
				t.Fatal(err)
			}
		}
		h := w.history()
		if len(h) != 1 || h[0].ID != id || h[0].Result != tt.want {
			t.Errorf("%s: history = %+v, want entry %d %s", tt.name, h, id, tt.want)
		}
		if lock != nil {
			lock.Release()
		}
		if got := recorded(); got != state.ResultRunning {
			t.Errorf("%s: history changed the record to %s; it only reads", tt.name, got)
		}
	}
	// The next command that takes the lock records it.
	tx, err := w.client.begin(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	tx.end(ctx, nil)
	if got := recorded(); got != state.ResultInterrupted {
		t.Errorf("after the next command: recorded %s, want %s", got, state.ResultInterrupted)
	}
}

// TestHistoryListsTransactions: the history lists what set out to change
// something, however it ended, and not the commands that stopped before
// (pacman's and apt's logs list transactions only): a newcomer's session
// had four of five entries "install nosuch: failed", "install hello: ok"
// (already installed), "upgrade: ok" (nothing to do) and "uninstall
// nosuch: failed".
func TestHistoryListsTransactions(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	w.publish(w.pkg("broken", "1.0.0", map[string]string{"scripts/install.sh": "exit 3\n"}))
	ctx := context.Background()
	steps := []struct {
		name    string
		do      func() error
		fails   bool
		entries []string // the commands listed after it, in order
	}{
		{"install hello", func() error { return w.client.Install(ctx, []string{"hello"}) }, false, []string{"install hello"}},
		{"install nosuch", func() error { return w.client.Install(ctx, []string{"nosuch"}) }, true, []string{"install hello"}},
		{"install hello again", func() error { return w.client.Install(ctx, []string{"hello"}) }, false, []string{"install hello"}},
		{"upgrade, nothing to do", func() error { return w.client.Upgrade(ctx, nil, false) }, false, []string{"install hello"}},
		{"uninstall nosuch", func() error { return w.client.Uninstall(ctx, []string{"nosuch"}, false) }, true, []string{"install hello"}},
		{"hold hello, held", func() error { return w.client.Hold(ctx, []string{"hello"}, true) }, false, []string{"install hello", "hold hello"}},
		{"install broken, its script fails", func() error { return w.client.Install(ctx, []string{"broken"}) }, true, []string{"install hello", "hold hello", "install broken"}},
		{"uninstall libgreet, hello needs it", func() error { return w.client.Uninstall(ctx, []string{"libgreet"}, false) }, true, []string{"install hello", "hold hello", "install broken"}},
		// A command called by an alias is recorded as typed (remove was
		// recorded as uninstall).
		{"remove hello libgreet, by uninstall's alias", func() error {
			w.client.CalledAs = "remove"
			defer func() { w.client.CalledAs = "" }()
			return w.client.Uninstall(ctx, []string{"hello", "libgreet"}, false)
		}, false, []string{"install hello", "hold hello", "install broken", "remove hello libgreet"}},
	}
	for _, s := range steps {
		if err := s.do(); (err != nil) != s.fails {
			t.Fatalf("%s: %v", s.name, err)
		}
		var got []string
		for _, e := range w.history() {
			got = append(got, e.Command)
		}
		if !slices.Equal(got, s.entries) {
			t.Fatalf("after %s: history %q, want %q", s.name, got, s.entries)
		}
	}
	if h := w.history(); h[2].Result != state.ResultFailed {
		t.Errorf("the failed script's install: %+v, want failed", h[2])
	}
}

// A plan of several packages that fails while an archive is fetched ends
// its error naming the others as not installed either, never the one
// that failed; a plan of one package adds nothing (the review found the
// line blaming the wrong item, and a package "of the same transaction"
// as itself).
func TestFailedPlanNamesTheOthers(t *testing.T) {
	w := newWorld(t)
	w.publish(w.pkg("liba", "1.0.0", map[string]string{"assets/a": "a"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends: [liba]\n", "assets/b": "b"}),
		w.pkg("solo", "1.0.0", map[string]string{"assets/s": "s"}))
	for _, name := range []string{"liba", "solo"} { // not in the cache: each must be downloaded, and cannot be
		if err := os.Remove(filepath.Join(w.client.Paths.Cache(), name+"-1.0.0.tar.zst")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		request, want string
	}{
		{"app", "\napp 1.0.0, of the same transaction, was not installed either"},
		{"solo", ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := w.client.Install(ctx, []string{tc.request})
		cancel()
		if err == nil {
			t.Fatalf("install %s: no error", tc.request)
		}
		last := err.Error()[strings.LastIndex(err.Error(), "\n")+1:]
		switch {
		case tc.want == "" && strings.Contains(err.Error(), "of the same transaction"):
			t.Errorf("install %s: %v; want no line about other packages", tc.request, err)
		case tc.want != "" && !strings.HasSuffix(err.Error(), tc.want):
			t.Errorf("install %s: last line %q; want %q", tc.request, last, strings.TrimPrefix(tc.want, "\n"))
		}
	}
}

// failLater is a source whose download of the archive fail fails at once
// while the others never arrive, as the engine's and the daemon's fetches
// fail (daemon.ArchiveError).
type failLater struct{ fail string }

func (s failLater) Via() string { return "" }
func (s failLater) Close()      {}
func (s failLater) Fetch(ctx context.Context, rows, _ []catalog.Package, _ fetch.Events) error {
	if s.fail == "" { // the fetch as a whole fails, as on a stall
		return errors.New("no data received for 2m0s from any peer or web seed")
	}
	for _, r := range rows {
		if r.Archive == s.fail {
			return &daemon.ArchiveError{Archive: r.Archive, Err: fmt.Errorf("download %s: no source", r.Archive)}
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

// When the download that fails is not the one the install waits for (app's
// fails while liba's, first in the plan, is awaited), the last line names
// the others, not the one that failed: a newcomer's run read "download
// hello-1.4.0.tar.zst: no source ..." and then "hello 1.4.0, of the same
// transaction, was not installed either", libgreet unnamed.
func TestFailedDownloadOfALaterItem(t *testing.T) {
	w := newWorld(t)
	w.publish(w.pkg("liba", "1.0.0", map[string]string{"assets/a": "a"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends: [liba]\n", "assets/b": "b"}))
	for _, name := range []string{"liba", "app"} {
		if err := os.Remove(filepath.Join(w.client.Paths.Cache(), name+"-1.0.0.tar.zst")); err != nil {
			t.Fatal(err)
		}
	}
	w.client.source = failLater{fail: "app-1.0.0.tar.zst"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := w.client.Install(ctx, []string{"app"})
	if err == nil {
		t.Fatal("install app: no error")
	}
	if want := "\nliba 1.0.0, of the same transaction, was not installed either"; !strings.Contains(err.Error(), "download app-1.0.0.tar.zst") || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("install app: %v\nwant app's download named, then%s", err, want)
	}
	// A fetch that fails as a whole names every package as not installed
	// (the review: all but the one awaited were named "not installed
	// either", as if that one had failed alone).
	w.client.source = failLater{}
	err = w.client.Install(ctx, []string{"app"})
	if want := "\nliba 1.0.0, app 1.0.0, of the same transaction, were not installed"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("install app, the fetch failing: %v\nwant it to end%s", err, want)
	}
}

// A mark, hold or unhold that fails on a name not installed changes
// nothing, and says so: its --json result (Last) listed the changes made
// to the names before it ("hello held") and its history entry kept them
// as a failed command's, while no record was saved. It is not listed
// either, as uninstall nosuch is not.
func TestFailedHoldChangesNothing(t *testing.T) {
	w := newWorld(t)
	w.publishHello()
	ctx := context.Background()
	if err := w.client.Install(ctx, []string{"hello"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		do   func() error
	}{
		{"hold hello nosuch", func() error { return w.client.Hold(ctx, []string{"hello", "nosuch"}, true) }},
		{"mark --dependency hello nosuch", func() error { return w.client.Mark(ctx, []string{"hello", "nosuch"}, false) }},
	} {
		if err := c.do(); !errors.Is(err, state.ErrNotInstalled) {
			t.Fatalf("%s: %v, want not installed", c.name, err)
		}
		if w.client.Last == nil || len(w.client.Last.Changes) != 0 {
			t.Errorf("%s: result %+v, want no changes", c.name, w.client.Last)
		}
		var got []string
		for _, e := range w.history() {
			got = append(got, e.Command)
		}
		if !slices.Equal(got, []string{"install hello"}) {
			t.Errorf("%s: history %q, want the install alone", c.name, got)
		}
		if r, ok := w.state().Get("hello"); !ok || r.Held || r.Auto {
			t.Errorf("%s: hello's record %+v, want it as it was", c.name, r)
		}
	}
}
