package install

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/swarm"
)

// dirSource downloads archives by copying them from the publisher's
// archive directory into the cache (the network's part, which the e2e
// stories cover), and counts what it was asked for.
type dirSource struct {
	w     *world
	asked []string
}

func (s *dirSource) Via() string { return "" }
func (s *dirSource) Close()      {}
func (s *dirSource) Fetch(_ context.Context, rows, _ []catalog.Package, ev fetch.Events) error {
	for _, r := range rows {
		s.asked = append(s.asked, r.Archive)
		s.w.copy(filepath.Join(s.w.pub.Paths.Archives(), r.Archive), filepath.Join(s.w.client.Paths.Cache(), r.Archive))
		ev.Progress(r.Size, 1)
		ev.Finished(r, swarm.Transfer{Total: r.Size, FromSeeder: r.Size})
	}
	return nil
}

// An archive the plan found cached and that is gone when its turn to be
// unpacked comes (a daemon's cache_max_size trimmed it as another archive
// of the plan came in, or dist-client clean ran meanwhile) is downloaded
// again; the install failed with "no such file" before.
func TestArchiveGoneFromCacheIsFetchedAgain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("lib", "1.0.0", map[string]string{"assets/lib/x": "x"}),
		w.pkg("app", "1.0.0", map[string]string{"manifest.yaml": "name: app\nversion: 1.0.0\ndepends:\n  - lib ^1\n", "assets/bin/app": "app"}))
	src := &dirSource{w: w}
	w.client.source = src
	cached := filepath.Join(w.client.Paths.Cache(), "app-1.0.0.tar.zst")
	os.Remove(filepath.Join(w.client.Paths.Cache(), "lib-1.0.0.tar.zst")) // lib downloads, app is cached
	w.client.hook = func(step string) error {
		if step == "extract app-1.0.0.tar.zst" {
			return os.Remove(cached)
		}
		return nil
	}
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("install: %v\n%s", err, w.out)
	}
	if got := strings.Join(src.asked, " "); got != "lib-1.0.0.tar.zst app-1.0.0.tar.zst" {
		t.Errorf("downloaded %q; want lib, then app again", got)
	}
	if !strings.Contains(w.out.String(), "no longer in the cache") {
		t.Errorf("no warning that the archive was gone:\n%s", w.out)
	}
	w.consistent()
	if b, err := os.ReadFile(w.prefix("bin", "app")); err != nil || string(b) != "app" {
		t.Fatalf("app's file: %q, %v", b, err)
	}
}

// When the cleanup after a committed transaction fails, the journal ends
// all the same: the next removal of the same command went on to fail with
// "another transaction is open" after the first was committed.
func TestFailedCleanupEndsTheJournal(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("a", "1.0.0", map[string]string{"assets/a/x": "a"}), w.pkg("b", "1.0.0", map[string]string{"assets/b/x": "b"}))
	if err := w.client.Install(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	w.client.hook = func(step string) error {
		if step == "cleanup" && failed == 0 {
			failed++
			return errors.New("cannot remove a leftover")
		}
		return nil
	}
	if err := w.client.Uninstall(ctx, []string{"a", "b"}, false); err != nil {
		t.Fatalf("uninstall a b: %v\n%s", err, w.out)
	}
	if failed != 1 {
		t.Fatalf("the cleanup failed %d times; want 1", failed)
	}
	if !strings.Contains(w.out.String(), "cannot remove a leftover (remove what is left by hand)") {
		t.Errorf("no warning of the failed cleanup:\n%s", w.out)
	}
	for _, name := range []string{"a", "b"} {
		if _, ok := w.state().Get(name); ok {
			t.Errorf("%s is still recorded installed", name)
		}
	}
	w.client.hook = nil
	if err := w.client.Install(ctx, []string{"a"}); err != nil {
		t.Fatalf("the next command: %v", err)
	}
	// What the failed cleanup left, removed by hand as the warning says.
	filepath.WalkDir(w.prefix(), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".distpac-") {
			os.RemoveAll(p)
		}
		return nil
	})
	w.consistent()
}
