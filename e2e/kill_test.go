package e2e

// Attacks on "nothing lost, nothing let in" by kill -9 at the worst
// moments: mid-download, mid-script, mid-add, mid-placement and of the
// running server. Each test asserts what the program did afterwards and
// that nothing was lost. The concurrent ones are in concurrent_test.go.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillInstallDuringDownload: kill -9 of dist-client install while the
// archive downloads; the rerun completes with identical files, and should
// fetch only what the killed run had not verified yet.
func TestKillInstallDuringDownload(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB download at a capped rate")
	}
	const size = 64 << 20
	// The client's download cap slows the transfer; a server upload cap
	// stalls it (TestThrottledServerUpload).
	r := newRig(t, "")
	pkg, part := r.publishCapped(size, "16MiB")
	archive := "huge-1.0.0.tar.zst"

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Kill once the part file exists and the server has sent a good third.
	p := r.installAThird(ctx, size, part)
	p.kill9(t)
	// Let in-flight bytes settle in the server's counter before reading it.
	time.Sleep(300 * time.Millisecond)
	before := r.uploaded()
	t.Logf("killed install after the server sent %d of %d bytes; part file %d bytes", before, size, fileSize(part))
	if _, err := os.Stat(filepath.Join(r.path("prefix1"), "huge")); err == nil {
		t.Fatalf("a killed download left installed files")
	}

	out := r.client1("install", "--stall-timeout", "30s", "huge")
	if !strings.Contains(out, "installed huge 1.0.0") {
		t.Fatalf("rerun: no success line:\n%s", out)
	}
	again := r.uploaded() - before
	t.Logf("rerun downloaded %d bytes from the server (%.0f%% of the archive; %d were sent before the kill)",
		again, 100*float64(again)/float64(size), before)
	if err := cmpfiles(filepath.Join(r.path("prefix1"), "huge", "data.bin"), filepath.Join(pkg, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	if err := cmpfiles(filepath.Join(r.clientDir("client1"), "cache", archive), r.path("server", "distpac", "server", "archives", archive)); err != nil {
		t.Fatal(err)
	}
	// Resuming must reuse verified pieces: allow a quarter of the archive
	// beyond what the kill left missing (in-flight and unverified pieces).
	if limit := size - before + size/4; again > limit {
		t.Errorf("rerun re-downloaded %d bytes, more than the %d still missing plus slack: pieces of the .part file were not reused", again, size-before)
	}
}

// TestKillDuringInstallScript: kill -9 of dist-client while install.sh
// runs; the package is not recorded, history shows the install
// interrupted, and a rerun installs it.
func TestKillDuringInstallScript(t *testing.T) {
	r := newRig(t, "")
	hang := r.path("hang")
	marker := r.path("slow-started")
	scriptPID := r.path("script.pid")
	// install.sh marks that it started, then waits (bounded, 30 s) while
	// the hang file exists.
	install := fmt.Sprintf(`#!/bin/sh
set -eu
echo $$ > %[1]q
touch %[2]q
i=0
while [ -e %[3]q ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
mkdir -p "$DISTPAC_DESTDIR$DISTPAC_PREFIX/slow"
echo done > "$DISTPAC_DESTDIR$DISTPAC_PREFIX/slow/ok"
`, scriptPID, marker, hang)
	dir := r.path("pkgs", "slow-1.0.0")
	r.writeFiles(dir, map[string]string{
		"manifest.yaml":      "name: slow\nversion: 1.0.0\n",
		"scripts/install.sh": install,
	})
	r.server("add", dir)
	r.server("start")
	r.client1("sync")
	if err := os.WriteFile(hang, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "install", "slow")
	if !poll(30*time.Second, func() bool { return fileSize(marker) >= 0 }) {
		t.Fatalf("install.sh never started:\n%s", p.out)
	}
	p.kill9(t)
	// The script outlives the killed client (it runs in its own process
	// group): stop it before it is released, or it would finish later and
	// write into a folder the test has already removed.
	b, err := os.ReadFile(scriptPID)
	if err != nil {
		t.Fatal(err)
	}
	var orphan int
	if _, err := fmt.Sscan(string(b), &orphan); err != nil || orphan <= 0 {
		t.Fatalf("script.pid holds %q", b)
	}
	syscall.Kill(orphan, syscall.SIGKILL)
	if !poll(10*time.Second, func() bool { return syscall.Kill(orphan, 0) != nil }) {
		t.Fatalf("install.sh (pid %d) survived SIGKILL", orphan)
	}
	os.Remove(hang)

	out := r.client1("list", "--installed")
	for _, line := range strings.Split(out, "\n") {
		// The warning names the killed script (install.sh of slow 1.0.0);
		// the listing must not.
		if strings.Contains(line, "slow") && !strings.HasPrefix(line, "warning: ") {
			t.Fatalf("list --installed shows the package whose install was killed:\n%s", out)
		}
	}
	if _, err := os.Stat(r.path("prefix1", "slow")); err == nil {
		t.Fatal("a killed install placed files")
	}
	// history says at once that the killed install is not running any
	// more (before, it said "running" until the rerun below recorded it).
	if h := r.client1("history"); !strings.Contains(h, "install slow") || !strings.Contains(h, "interrupted") || strings.Contains(h, "running") {
		t.Fatalf("history right after the kill:\n%s", h)
	}
	// It also says what the killed install downloaded (the archive, whole
	// before its script ran): it said 0 B, the entry never being ended.
	if h := r.client1("history"); !regexp.MustCompile(`install slow +- +[1-9][0-9.]* (B|KiB) +interrupted`).MatchString(h) {
		t.Fatalf("history does not show the killed install's download:\n%s", h)
	}
	out = r.client1("install", "slow")
	if !strings.Contains(out, "installed slow 1.0.0") {
		t.Fatalf("rerun: no success line:\n%s", out)
	}
	// The rerun cleaned up the killed one's staging.
	if ents, _ := os.ReadDir(filepath.Join(r.clientDir("client1"), "staging")); len(ents) != 0 {
		t.Fatalf("staging left behind: %v", ents)
	}
	if b, err := os.ReadFile(r.path("prefix1", "slow", "ok")); err != nil || string(b) != "done\n" {
		t.Fatalf("rerun: install.sh did not finish: %q, %v", b, err)
	}
	out = r.client1("list", "--installed")
	if !strings.Contains(out, "slow") {
		t.Fatalf("list --installed does not show the reinstalled package:\n%s", out)
	}
}

// TestKillServerAdd: kill -9 of dist-server add in the middle; the server's
// state stays usable, and adding again succeeds.
func TestKillServerAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("adds a 64 MiB package")
	}
	r := newRig(t, "")
	small := r.mkpkg("small", "1.0.0", 4096)
	r.server("add", small)
	big := r.mkpkg("bigadd", "1.0.0", 64<<20)
	archives := r.path("server", "distpac", "server", "archives")
	staged := func() int64 {
		var n int64
		dirs, _ := filepath.Glob(filepath.Join(archives, ".staging-*", "*"))
		for _, d := range dirs {
			n += max(0, fileSize(d))
		}
		return n
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-server", "server", "server.yaml", "add", big)
	// Kill once the archive being built has grown past 8 MiB.
	t0 := time.Now()
	poll(10*time.Second, func() bool { return staged() >= 8<<20 || !p.running() })
	if !p.running() {
		t.Fatalf("add finished before it could be killed (make the package bigger):\n%s", p.out)
	}
	p.kill9(t)
	ents, _ := os.ReadDir(archives)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	t.Logf("killed add after %s with %d bytes staged; archives/ holds %v", time.Since(t0).Round(time.Millisecond), staged(), names)

	out := r.server("list")
	if !strings.Contains(out, "small") {
		t.Fatalf("list after a killed add lost the earlier package:\n%s", out)
	}
	t.Logf("list after the kill:\n%s", out)
	r.server("start")
	out = r.client1("sync")
	t.Logf("client sync after the kill: %s", strings.TrimSpace(out))
	r.client1("install", "small")
	out = r.server("add", big)
	if !strings.Contains(out, "added bigadd 1.0.0") {
		t.Fatalf("add after the kill: %s", out)
	}
	r.waitServed()
	out = r.client1("sync")
	t.Logf("sync after the second add: %s", strings.TrimSpace(out))
	t.Logf("server list: %s", r.server("list"))
	r.client1("install", "--stall-timeout", "30s", "bigadd")
	if err := cmpfiles(r.path("prefix1", "bigadd", "data.bin"), filepath.Join(big, "assets", "data.bin")); err != nil {
		t.Fatal(err)
	}
	// Nothing the killed add left behind should remain beside the archives.
	ents, _ = os.ReadDir(archives)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".tar.zst") {
			t.Errorf("archives/ keeps a leftover of the killed add: %s", e.Name())
		}
	}
}

// TestKillServer: kill -9 of the running server; status says it is not
// running, start works again despite the stale server.json, clients sync.
func TestKillServer(t *testing.T) {
	r := newRig(t, "")
	r.server("add", r.mkpkg("tiny", "1.0.0", 1024))
	r.server("start")
	r.client1("sync")
	pidFile := r.path("server", "distpac", "server", "server.json")
	pid, err := readPID(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "dist-server") {
		t.Fatalf("pid %d from server.json is not our dist-server: %q", pid, cmdline)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool { return syscall.Kill(pid, 0) != nil }) {
		t.Fatalf("pid %d still alive after kill -9", pid)
	}

	out, err := r.try("dist-server", "server", "server.yaml", "status")
	if err == nil || !strings.Contains(out, "not running") {
		t.Fatalf("status after kill -9: want an error saying not running, got %v:\n%s", err, out)
	}
	t.Logf("status after kill -9: %s", strings.TrimSpace(out))
	r.server("start")
	pid2, err := readPID(pidFile)
	if err != nil || pid2 == pid {
		t.Fatalf("server.json after restart: pid %d (was %d), %v", pid2, pid, err)
	}
	r.client1("sync")
	r.client1("install", "tiny")
	r.run("dist-client", "client2", "client2.yaml", "sync")
	r.run("dist-client", "client2", "client2.yaml", "install", "tiny")
}

// TestKillDuringPlacement: kill -9 of an upgrade while it moves files (a
// package of 2,500 files, each replaced: the old ones are set aside as
// .distpac-* beside themselves first). The next command rolls the move back,
// or finishes it if it was committed: the recorded version's files are all
// as recorded, no set-aside file is left, and the upgrade then succeeds.
func TestKillDuringPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of files")
	}
	r := newRig(t, "")
	v1 := r.manyFiles("many", 2500)
	r.server("add", v1)
	r.server("start")
	r.client1("sync")
	r.client1("install", "many")
	v2 := r.path("pkgs", "many-2.0.0")
	if err := os.Rename(v1, v2); err != nil {
		t.Fatal(err)
	}
	r.writeFiles(v2, map[string]string{"manifest.yaml": "name: many\nversion: 2.0.0\n"})
	r.server("add", v2)
	r.waitServed()
	r.client1("sync")

	dir := filepath.Join(r.path("prefix1"), "many", "d00")
	setAside := func() bool {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".distpac-") {
				return true
			}
		}
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := r.start(ctx, "dist-client", "client1", "client1.yaml", "upgrade")
	if !poll(30*time.Second, func() bool { return setAside() || !p.running() }) || !p.running() {
		t.Skipf("the upgrade finished before a kill could land in its moves (a fast disk):\n%s", p.out)
	}
	p.kill9(t)

	out := r.client1("list", "--installed")
	t.Logf("after the kill and the recovery: %s", strings.TrimSpace(out))
	if !strings.Contains(out, "rolled back the changes of an interrupted dist-client") && !strings.Contains(out, "finished cleaning up after an interrupted") {
		// list takes no lock; recover ends the change (as the next
		// change would), naming the command and the versions.
		out = r.client1("recover")
		if !strings.Contains(out, "the interrupted `dist-client upgrade`") || !strings.Contains(out, "many 1.0.0 -> 2.0.0") {
			t.Fatalf("recover does not say what it recovered:\n%s", out)
		}
	}
	if v := r.client1("verify"); !strings.Contains(v, "2500 files, 51 directories, 0 problems") {
		t.Fatalf("verify after recovery:\n%s", v)
	}
	if setAside() {
		t.Fatal("set-aside files left after recovery")
	}
	if h := r.client1("history"); !strings.Contains(h, "interrupted") {
		t.Fatalf("history does not show the interrupted upgrade:\n%s", h)
	}
	out = r.client1("upgrade")
	if !strings.Contains(out, "upgraded many 1.0.0 -> 2.0.0") {
		t.Fatalf("upgrade after recovery:\n%s", out)
	}
	if v := r.client1("verify"); !strings.Contains(v, "many 2.0.0: 2500 files, 51 directories, 0 problems") {
		t.Fatalf("verify:\n%s", v)
	}
}
