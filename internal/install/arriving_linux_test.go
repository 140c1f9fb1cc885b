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
	// renamed runs once an archive is at its final path, before it is
	// reported complete.
	renamed func(final string)
}

func (s *arrivingSource) via() string { return "" }
func (s *arrivingSource) close()      {}

func (s *arrivingSource) fetch(_ context.Context, rows, _ []catalog.Package, ev fetchEvents) error {
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
		ev.progress(int64(len(half)), 1)
		ev.grew(r, int64(len(half)))
		if err := s.ready(part); err != nil {
			return err
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
		ev.progress(r.Size, 1)
		ev.finished(r, swarm.Transfer{Total: r.Size, FromSeeder: r.Size})
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
