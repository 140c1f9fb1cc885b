package e2e

// A full disk, for real (issue 10, point 6): each test mounts a small tmpfs
// of its own where the prefix or the client's data home lives, and fills it
// at the worst moment. They need root (as CI and this machine have) and
// are skipped, with a message, without it.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/disktest"
)

// TestDiskSpaceRefused: a plan larger than the prefix's free space is
// refused before any download, with both numbers.
func TestDiskSpaceRefused(t *testing.T) {
	r := newRig(t, "")
	disktest.Tmpfs(t, r.path("prefix1"), "2m")
	r.server("add", r.mkpkg("big", "1.0.0", 3<<20))
	r.server("start")
	r.client1("sync")
	out, err := r.try("dist-client", "client1", "client1.yaml", "install", "big")
	if err == nil {
		t.Fatalf("install succeeded:\n%s", out)
	}
	want := "dist-client: not enough disk space: " + r.path("prefix1") + " has 2.0 MiB free, this needs "
	if !strings.Contains(out, want) || !strings.Contains(out, "to stage and install") {
		t.Fatalf("output does not say %q:\n%s", want, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.clientDir("client1"), "cache")); len(ents) != 0 {
		t.Fatalf("something was downloaded: %v", ents)
	}
}

// TestDiskFullDuringStaging: the prefix's filesystem fills while the
// archive is extracted into staging (1,200 one-byte files take a page
// each on tmpfs, far beyond the declared installed size). The install
// fails at once with the OS's error and the path, and rolls back.
func TestDiskFullDuringStaging(t *testing.T) {
	r := newRig(t, "")
	prefix := r.path("prefix1")
	disktest.Tmpfs(t, prefix, "2m")
	r.server("add", r.manyFiles("many", 1200))
	r.server("start")
	r.client1("sync")
	start := time.Now()
	out, err := r.try("dist-client", "client1", "client1.yaml", "install", "many")
	if err == nil {
		t.Fatalf("install succeeded on a full disk:\n%s", out)
	}
	if !strings.Contains(out, "no space left on device") || !strings.Contains(out, filepath.Join(prefix, ".distpac-staging")) {
		t.Fatalf("the error does not name the OS's reason and the path:\n%s", out)
	}
	t.Logf("failed in %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out[strings.LastIndex(out, "dist-client:"):]))
	r.nothingOf("many", prefix)
	if h := r.client1("history"); !strings.Contains(h, "install many") || !strings.Contains(h, "failed: ") {
		t.Fatalf("history:\n%s", h)
	}
}

// TestDiskFullDuringDownload: the cache's filesystem fills while the
// archive downloads. The install ends within seconds with the OS's error
// naming the partial file (not after the stall timeout, blaming peers);
// the partial file stays, and once there is room the install resumes it.
func TestDiskFullDuringDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("a rate-limited download")
	}
	const size = 3 << 20
	r := newRig(t, "")
	home := r.path("client1")
	disktest.Tmpfs(t, home, "6m")
	pkg, part := r.publishCapped(size, "1MiB")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "--stall-timeout", "90s", "huge")
	if !poll(30*time.Second, func() bool { return fileSize(part) > 0 && r.uploaded() >= size/4 }) {
		t.Fatalf("the download never started:\n%s", p.out)
	}
	filler := disktest.Fill(t, home, 0)
	full := time.Now()
	var err error
	select {
	case err = <-p.done:
		p.done <- err // for the cleanup, which waits for the exit
	case <-time.After(30 * time.Second):
		t.Fatalf("install still runs 30 s after the disk filled:\n%s", p.out)
	}
	t.Logf("install ended %v after the disk filled", time.Since(full).Round(time.Millisecond))
	out := p.out.String()
	if err == nil || !strings.Contains(out, "no space left on device") || !strings.Contains(out, part) {
		t.Fatalf("want a failure naming the full disk and %s; got %v:\n%s", part, err, out)
	}
	if fileSize(part) <= 0 {
		t.Fatal("the partial download is gone")
	}
	before := r.uploaded()
	os.Remove(filler)
	out = r.client1("install", "huge")
	if !strings.Contains(out, "installed huge 1.0.0") {
		t.Fatalf("rerun:\n%s", out)
	}
	again := r.uploaded() - before
	t.Logf("the rerun downloaded %d of %d bytes", again, size)
	if again >= size {
		t.Errorf("the rerun downloaded %d bytes, the whole archive: the partial file was not resumed", again)
	}
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
}

// TestDiskFullSavingState: the data home fills so that the files fit in
// the prefix but the state cannot record them. The install fails with the
// state file named, and the placed files are taken back: nothing installed
// that is not recorded.
func TestDiskFullSavingState(t *testing.T) {
	r := newRig(t, "")
	home := r.path("client1")
	disktest.Tmpfs(t, home, "4m")
	r.server("add", r.manyFiles("many", 3000))
	r.server("start")
	r.client1("sync")
	// Installed once and removed, so the archive is cached: the second
	// install needs no space in the data home but the state's.
	r.client1("install", "many")
	r.client1("uninstall", "many")
	filler := disktest.Fill(t, home, 96<<10)
	out, err := r.try("dist-client", "client1", "client1.yaml", "install", "many")
	if err == nil {
		t.Fatalf("install succeeded with a full data home:\n%s", out)
	}
	db := filepath.Join(r.clientDir("client1"), "installed.db")
	if !strings.Contains(out, "save installed state "+db) || !strings.Contains(out, "full") {
		t.Fatalf("the error does not name the state and the full disk:\n%s", out)
	}
	t.Logf("%s", strings.TrimSpace(out[strings.LastIndex(out, "dist-client:"):]))
	os.Remove(filler)
	r.nothingOf("many", r.path("prefix1"))
	out = r.client1("install", "many")
	if !strings.Contains(out, "installed many 1.0.0") {
		t.Fatalf("rerun:\n%s", out)
	}
	if out := r.client1("verify", "many"); !strings.Contains(out, "many 1.0.0: 3000 files, 51 directories, 0 problems") {
		t.Fatalf("verify:\n%s", out)
	}
}

// TestDiskFullReadOnly: with the data home full, the commands that only
// read the installed state still show it. installed.db is in WAL mode,
// and SQLite's first reader after the last connection closed must make
// and grow installed.db-shm, which a full disk refuses: list, info and
// files failed ("disk I/O error (4874)"), so the user could not even see
// what was installed while freeing space.
func TestDiskFullReadOnly(t *testing.T) {
	r := newRig(t, "")
	home := r.path("client1")
	disktest.Tmpfs(t, home, "4m")
	r.server("add", r.mkpkg("small", "1.0.0", 4<<10))
	r.server("start")
	r.client1("sync")
	r.client1("install", "small")
	db := filepath.Join(r.clientDir("client1"), "installed.db")
	for _, f := range []string{db + "-wal", db + "-shm"} {
		if _, err := os.Lstat(f); err == nil {
			t.Fatalf("%s is left after the install: the reads below would not need to make it", f)
		}
	}
	filler := disktest.Fill(t, home, 0)
	defer os.Remove(filler)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "--installed"}, "small"},
		{[]string{"list"}, "small"},
		{[]string{"info", "small"}, "1.0.0"},
		{[]string{"files", "small"}, filepath.Join(r.path("prefix1"), "small", "data.bin")},
		{[]string{"search", "small"}, "small"},
		{[]string{"history"}, "install small"},
	} {
		out, err := r.try("dist-client", "client1", "client1.yaml", c.args...)
		if err != nil || !strings.Contains(out, c.want) {
			t.Errorf("dist-client %s on a full disk: %v\n%s", strings.Join(c.args, " "), err, out)
		}
	}
	// A change still fails, with the disk named, not the file called
	// damaged.
	out, err := r.try("dist-client", "client1", "client1.yaml", "uninstall", "small")
	if err == nil || strings.Contains(out, "damaged") {
		t.Fatalf("uninstall on a full disk: %v\n%s", err, out)
	}
	t.Logf("uninstall: %s", strings.TrimSpace(out))
}
