package server

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/disktest"
	// The binaries' payload I/O, pread and pwrite: the library's default,
	// mmap, faults (SIGBUS) hashing a hole of a file on a full tmpfs, which
	// the binaries never do.
	_ "github.com/distpac/distpac/internal/fileio"
	"github.com/distpac/distpac/internal/paths"
)

// writeRandomPackage writes a package directory of size bytes that do not
// compress, so that its archive is about size too.
func writeRandomPackage(t *testing.T, name string, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(len(name)), name[0]}).Read(data)
	for rel, content := range map[string][]byte{
		"manifest.yaml":   []byte("version: 1.0.0\n"),
		"assets/data.bin": data,
	} {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A mirror whose primary's archives outgrow its disk mirrors those that
// fit beside its reserve and follows the primary's catalog on: its
// archives filled the disk, every later sync failed writing the catalog
// ("no space left on device"), and it served its old catalog until that
// expired, downloading the same part of an archive again every round.
func TestMirrorKeepsRoomForCatalog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := t.TempDir()
	disktest.Tmpfs(t, root, "70m")
	const size = 24 << 20 // three do not fit; two fit beside the 16 MiB kept, and the catalog twice
	cfg, primary, pub := newPrimary(ctx, t, writeRandomPackage(t, "alpha", size), writeRandomPackage(t, "beta", size), writeRandomPackage(t, "gamma", size))
	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg})
	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	mp := paths.Home{Root: root}.Server()
	rec := &logRecorder{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("the mirror's log:\n" + strings.Join(rec.lines(0, slog.LevelInfo), "\n"))
		}
	})
	ready := make(chan Info, 1)
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: mp, Config: mcfg, Primary: []string{pinfo.Database}, Interval: 200 * time.Millisecond, Logger: slog.New(rec), Ready: func(i Info) { ready <- i }})
	})
	var minfo Info
	select {
	case minfo = <-ready:
	case err := <-done:
		t.Fatalf("mirror: %v", err)
	}
	// Two rounds of downloads over, the primary publishes packages whose
	// texts make its catalog 1.4 MiB, more than a full disk has left.
	waitFor(t, "two rounds of downloads", func() bool { return rec.count("archives of the catalog") >= 2 })
	text := strings.Repeat("0123456789abcdef", 60<<10/16)
	var more []string
	for i := range 8 {
		dir := writeRandomPackage(t, fmt.Sprintf("delta%d", i), 10<<10)
		manifest := fmt.Sprintf("version: 1.0.0\ndescription: %s\nlicense: %s\nhomepage: %s\n", text, text, text)
		if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		more = append(more, dir)
	}
	if _, err := pub.Add(ctx, more); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mirror to serve the new packages", func() bool {
		code, _ := fetch(t, minfo.Database+"/packages/delta7-1.0.0.tar.zst")
		return code == 200
	})
	var have []string
	for _, n := range []string{"alpha", "beta", "gamma"} {
		if code, _ := fetch(t, minfo.Database+"/packages/"+n+"-1.0.0.tar.zst"); code == 200 {
			have = append(have, n)
		}
	}
	if len(have) != 2 {
		t.Errorf("the mirror serves %v of alpha, beta and gamma; want the two that fit", have)
	}
	if n := rec.count("sync from the primary failed"); n > 0 {
		t.Errorf("%d syncs failed; want none (the disk kept room for the catalog)", n)
	}
	var said string
	for _, l := range rec.lines(0, slog.LevelError) {
		if strings.Contains(l, "not enough disk space to mirror every archive") {
			said = l
			break
		}
	}
	if !strings.Contains(said, "archives=1 ") || !strings.Contains(said, "kept for the catalog; this archive needs 24.0 MiB more") {
		t.Errorf("the mirror's log does not say which archive did not fit, and why: %q", said)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < mirrorDiskSlack {
		t.Errorf("%d bytes left free on the mirror's disk; want at least %d", free, mirrorDiskSlack)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}
