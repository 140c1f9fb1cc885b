package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
)

// An archive overwritten in place after the server verified it was seeded
// on until a restart, to every client (an attacker's run: 15 GiB of one bad
// piece to one install). Now a mirror deletes its damaged copy and
// downloads it again from the primary, and the primary stops seeding its
// own and says so (it cannot fetch it from anywhere: its operator must).
func TestSeedersDropChangedArchives(t *testing.T) {
	was := recheckEvery
	recheckEvery = 100 * time.Millisecond
	t.Cleanup(func() { recheckEvery = was })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	prec := &logRecorder{}
	ready := make(chan Info, 2)
	servers.Go(func() {
		done <- Run(ctx, Options{Paths: primary, Config: cfg, PollInterval: 100 * time.Millisecond, Logger: slog.New(prec), Ready: func(i Info) { ready <- i }})
	})
	pinfo := <-ready

	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	mirrorPaths := paths.Home{Root: t.TempDir()}.Server()
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: mirrorPaths, Config: mcfg, Primary: []string{pinfo.Database}, Interval: 100 * time.Millisecond,
			Logger: testLogger(t, "mirror"), Ready: func(i Info) { ready <- i }})
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

	// The mirror's copy, one byte flipped in place: deleted, downloaded again.
	flipInPlace(t, mirrorCopy)
	waitFor(t, "the mirror to stop seeding its damaged copy", func() bool { return seeding(minfo) == 0 })
	waitFor(t, "the mirror to seed a good copy again", func() bool {
		b, err := os.ReadFile(mirrorCopy)
		return err == nil && bytes.Equal(b, original) && seeding(minfo) == 1
	})

	// The primary's own archive: it stops seeding it, and its log names it.
	flipInPlace(t, filepath.Join(primary.Archives(), name))
	waitFor(t, "the primary to stop seeding its damaged archive", func() bool { return seeding(pinfo) == 0 })
	waitFor(t, "the primary to log why", func() bool {
		for _, l := range prec.lines(0, slog.LevelError) {
			if strings.Contains(l, "cannot seed package") && strings.Contains(l, name) && strings.Contains(l, "does not match its hash") {
				return true
			}
		}
		return false
	})
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
