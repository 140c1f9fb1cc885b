package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// An archive overwritten in place after the server verified it was seeded
// on until a restart, to every client (an attacker's run: 15 GiB of one bad
// piece to one install). Now a mirror deletes its damaged copy and
// downloads it again from the primary, and the primary stops seeding its
// own and says so (it cannot fetch it from anywhere: its operator must),
// once, and seeds it again once it is repaired.
func TestSeedersDropChangedArchives(t *testing.T) {
	was, wasRetry := recheckEvery, seedRetry
	recheckEvery, seedRetry = 100*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { recheckEvery, seedRetry = was, wasRetry })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	prec := &logRecorder{}
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, Logger: slog.New(prec)})
	ready := make(chan Info, 1)

	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	mirrorPaths := paths.Home{Root: t.TempDir()}.Server()
	mrec := &logRecorder{}
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: mirrorPaths, Config: mcfg, Primary: []string{pinfo.Database}, Interval: 100 * time.Millisecond,
			Logger: slog.New(mrec), Ready: func(i Info) { ready <- i }})
	})
	minfo := <-ready
	seeding := func(i Info) int {
		_, b := fetch(t, i.Control+"/status")
		var st Status
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("status %q: %v", b, err)
		}
		return st.Seeding
	}
	const name = "alpha-1.0.0.tar.zst"
	original, err := os.ReadFile(filepath.Join(primary.Archives(), name))
	if err != nil {
		t.Fatal(err)
	}
	mirrorCopy := filepath.Join(mirrorPaths.MirrorArchives(), name)
	waitFor(t, "the mirror to seed the archive", func() bool { return seeding(minfo) == 1 })

	// The mirror's copy, one byte flipped in place: deleted, downloaded
	// again. Past the file system's timestamp granularity (the kernel's
	// coarse clock, 4 ms here) from the download's end, which the seeder
	// noted the file at: a change within it is not seen (RecheckChanged).
	time.Sleep(50 * time.Millisecond)
	flipInPlace(t, mirrorCopy)
	// (It may be seeded again before a look at its status sees it gone:
	// the test's rounds are 100 ms apart.)
	waitFor(t, "the mirror to drop its damaged copy and download it again", func() bool {
		return mrec.count("the archive changed on disk and no longer matches its torrent: no longer seeding it") == 1 &&
			mrec.count("archive mirrored") == 2
	})
	waitFor(t, "the mirror to seed a good copy again", func() bool {
		b, err := os.ReadFile(mirrorCopy)
		return err == nil && bytes.Equal(b, original) && seeding(minfo) == 1
	})

	// The primary's own archive: it stops seeding it, and its log names it.
	archive := filepath.Join(primary.Archives(), name)
	flipInPlace(t, archive)
	waitFor(t, "the primary to stop seeding its damaged archive", func() bool { return seeding(pinfo) == 0 })
	cannotSeed := func() (n int) {
		for _, l := range prec.lines(0, slog.LevelError) {
			if strings.Contains(l, "cannot seed package") && strings.Contains(l, name) && strings.Contains(l, "does not match its hash") {
				n++
			}
		}
		return n
	}
	waitFor(t, "the primary to log why", func() bool { return cannotSeed() > 0 })
	// Nor served over HTTP, where every client's check would fail it:
	// a 503 that says why, for clients to tell it from a withdrawal.
	webSeed := pinfo.Database + "/packages/" + name
	if code, _, h := fetchHeader(t, webSeed); code != http.StatusServiceUnavailable || h.Get(torrentmeta.HeaderWithheld) != "damaged" {
		t.Errorf("GET %s while damaged: %d, %s %q; want 503 withheld", webSeed, code, torrentmeta.HeaderWithheld, h.Get(torrentmeta.HeaderWithheld))
	}
	// Tried again only once the file changes: not hashed (and logged)
	// again at every retry while it stays damaged.
	time.Sleep(10 * seedRetry)
	if n := cannotSeed(); n != 1 {
		t.Errorf("the unchanged damaged archive was checked %d times, want once", n)
	}
	// Repaired: seeded again.
	if err := os.WriteFile(archive+".new", original, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(archive+".new", archive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary to seed the repaired archive", func() bool { return seeding(pinfo) == 1 })
	if code, body, _ := fetchHeader(t, webSeed); code != http.StatusOK || !bytes.Equal(body, original) {
		t.Errorf("GET %s once repaired: %d, %d bytes; want the archive", webSeed, code, len(body))
	}
	// Removed: not counted as seeded (it was, as long as no peer asked for
	// it: an attacker's run); put back: seeded again.
	if err := os.Rename(archive, archive+".aside"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary to stop seeding its removed archive", func() bool { return seeding(pinfo) == 0 })
	if err := os.Rename(archive+".aside", archive); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary to seed the archive put back", func() bool { return seeding(pinfo) == 1 })
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}

// flipInPlace changes the middle byte of the file at path without
// replacing the file.
func flipInPlace(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	off := st.Size() / 2
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func fetchHeader(t *testing.T, url string) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp.Header
}
