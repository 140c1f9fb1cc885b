package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/swarm"
)

// arrivingSource downloads each archive the way the engine does: into
// cache/NAME.part, reporting the complete prefix, then renamed to
// cache/NAME and reported complete. Half of it comes first (badStart: that
// half is garbage); the rest once ready says the install is reading it.
type arrivingSource struct {
	w        *world
	asked    []string
	badStart bool
	ready    func(part string) error
	// fail, when set, ends the download with it once ready returned.
	fail error
	// renamed runs once an archive is at its final path, before it is
	// reported complete.
	renamed func(final string)
}

func (s *arrivingSource) Via() string { return "" }
func (s *arrivingSource) Close()      {}

func (s *arrivingSource) Fetch(_ context.Context, rows, _ []catalog.Package, ev fetch.Events) error {
	for _, r := range rows {
		s.asked = append(s.asked, r.Archive)
		b, err := os.ReadFile(filepath.Join(s.w.pub.Paths.Archives(), r.Archive))
		if err != nil {
			return err
		}
		final := filepath.Join(s.w.client.Paths.Cache(), r.Archive)
		part := final + ".part"
		half := append([]byte(nil), b[:len(b)/2]...)
		if s.badStart {
			for i := range half {
				half[i] = 0x5a
			}
		}
		if err := os.WriteFile(part, half, 0o644); err != nil {
			return err
		}
		ev.Progress(int64(len(half)), 1)
		ev.Grew(r, int64(len(half)))
		if err := s.ready(part); err != nil {
			return err
		}
		if s.fail != nil {
			return s.fail
		}
		f, err := os.OpenFile(part, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(b, 0)
		f.Close()
		if err != nil {
			return err
		}
		if err := os.Rename(part, final); err != nil {
			return err
		}
		if s.renamed != nil {
			s.renamed(final)
		}
		ev.Progress(r.Size, 1)
		ev.Finished(r, swarm.Transfer{Total: r.Size, FromSeeder: r.Size})
	}
	return nil
}

// openedHere waits until this process has path open.
func openedHere(path string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
				return nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("%s was not opened while it arrived", path)
}

// A package's archive is unpacked from the part the download has from its
// start, while the rest arrives, and read once: the source replaces the
// complete file with garbage of its size once it is renamed, so that an
// install that read it again from the cache would find it corrupt and
// download it a second time.
func TestArchiveUnpackedAsItArrives(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": big}))
	os.Remove(filepath.Join(w.client.Paths.Cache(), "app-1.0.0.tar.zst"))
	src := &arrivingSource{w: w, ready: openedHere, renamed: func(final string) {
		fi, err := os.Stat(final)
		if err != nil {
			t.Error(err)
			return
		}
		if err := fsutil.WriteFileAtomic(final, make([]byte, fi.Size()), 0o644); err != nil {
			t.Error(err)
		}
	}}
	w.client.source = src
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("install: %v\n%s", err, w.out)
	}
	if got := strings.Join(src.asked, " "); got != "app-1.0.0.tar.zst" {
		t.Errorf("downloaded %q; want app once", got)
	}
	if !strings.Contains(w.out.String(), "installing app 1.0.0\n") {
		t.Errorf("the install did not say it was installing app once its archive was whole:\n%s", w.out)
	}
	if b, err := os.ReadFile(w.prefix("bin", "app")); err != nil || string(b) != big {
		t.Fatalf("app's file: %d bytes, %v", len(b), err)
	}
	w.consistent()
}

// A streamed extraction that fails (here the first half of the part file
// was garbage when it was read, and was rewritten before the download
// completed) is done again from the complete archive, without downloading
// it again.
func TestArrivingArchiveReadAgainWhenComplete(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": "app"}))
	os.Remove(filepath.Join(w.client.Paths.Cache(), "app-1.0.0.tar.zst"))
	started := make(chan struct{}, 1)
	w.client.hook = func(step string) error {
		if step == "extract app-1.0.0.tar.zst" {
			select {
			case started <- struct{}{}:
			default:
			}
		}
		return nil
	}
	src := &arrivingSource{w: w, badStart: true, ready: func(string) error {
		select {
		case <-started:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the install did not start unpacking the archive while it arrived")
		}
	}}
	w.client.source = src
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatalf("install: %v\n%s", err, w.out)
	}
	if got := strings.Join(src.asked, " "); got != "app-1.0.0.tar.zst" {
		t.Errorf("downloaded %q; want app once", got)
	}
	if b, err := os.ReadFile(w.prefix("bin", "app")); err != nil || string(b) != "app" {
		t.Fatalf("app's file: %q, %v", b, err)
	}
	w.consistent()
}

// A download that fails while its archive is being unpacked fails the
// install with its own error: it is not taken for an archive that left the
// cache ("downloading it again").
func TestArrivingArchiveDownloadFails(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	big := strings.Repeat("0123456789abcdef", 64<<10)
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": big}))
	os.Remove(filepath.Join(w.client.Paths.Cache(), "app-1.0.0.tar.zst"))
	src := &arrivingSource{w: w, ready: openedHere, fail: errors.New("no source left")}
	w.client.source = src
	err := w.client.Install(ctx, []string{"app"})
	if err == nil || !strings.Contains(err.Error(), "no source left") {
		t.Fatalf("install: %v, want the download's error", err)
	}
	if out := w.out.String(); strings.Contains(out, "again") || strings.Contains(out, "no longer in the cache") {
		t.Errorf("the failed download was taken for a missing archive:\n%s", out)
	}
	// Half of the archive came, and was being unpacked: nothing was
	// installing yet.
	if out := w.out.String(); strings.Contains(out, "installing app") {
		t.Errorf("a download that failed half-way said it was installing:\n%s", out)
	}
	if len(src.asked) != 1 {
		t.Errorf("downloaded %q; want app once", src.asked)
	}
	if _, err := os.Stat(w.prefix("bin", "app")); err == nil {
		t.Error("app was installed")
	}
}

// An upgrade waits for the new version's whole archive before it runs the
// old version's uninstall.sh: a download that fails then leaves the old
// version as it was, its uninstall.sh never run (it would have stopped a
// service for the rest of the download).
func TestUpgradeWaitsForWholeArchive(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	marker := filepath.Join(w.dir, "uninstalled")
	uninstall := "#!/bin/sh\ntouch " + marker + "\n"
	w.publish(w.pkg("app", "1.0.0", map[string]string{"assets/bin/app": "1", "scripts/uninstall.sh": uninstall}))
	if err := w.client.Install(ctx, []string{"app"}); err != nil {
		t.Fatal(err)
	}
	w.publish(w.pkg("app", "2.0.0", map[string]string{"assets/bin/app": strings.Repeat("2", 1<<20), "scripts/uninstall.sh": uninstall}))
	os.Remove(filepath.Join(w.client.Paths.Cache(), "app-2.0.0.tar.zst"))
	src := &arrivingSource{w: w, fail: errors.New("no source left"), ready: func(string) error {
		// Long enough for an uninstall.sh started at the first piece to run.
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(marker); err == nil {
				break
			}
		}
		return nil
	}}
	w.client.source = src
	if err := w.client.Upgrade(ctx, []string{"app"}, false); err == nil || !strings.Contains(err.Error(), "no source left") {
		t.Fatalf("upgrade: %v, want the download's error", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the old version's uninstall.sh ran before the new archive was complete")
	}
	if b, err := os.ReadFile(w.prefix("bin", "app")); err != nil || string(b) != "1" {
		t.Errorf("app's file: %q, %v; want 1.0.0's", b, err)
	}
	w.consistent()
}
