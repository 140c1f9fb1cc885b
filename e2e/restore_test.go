package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
)

// TestRestoredPublisherFollowed: a publisher's whole data home restored
// from a backup (cp -a) taken two publications ago publishes again, and
// its mirror and its clients, which hold the two later serials, follow
// it. The restored server's next publication took the serial after the
// backup's, one the mirror and the clients held with other bytes: the
// mirror refused it as a fork ("catalog serial N is the one held but its
// bytes differ") and the clients kept the catalog they held, until the
// publisher published past the highest serial anyone had seen, which it
// could not know. Serials are the time's now (catalog.TimeSerial), so the
// restored publisher's next one is above every serial made since the
// backup.
func TestRestoredPublisherFollowed(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a primary restored from a backup, a mirror and two clients")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	r.server("add", r.mkpkg("alpha", "1.0.0", 2000))
	r.server("start")
	key := strings.TrimSpace(r.server("key"))
	r.startMirror(r.mirrorYAML(""), mirror, "alpha-1.0.0.tar.zst", "--interval", "300ms", primary)
	// client1 syncs from the mirror first, client2 from the primary alone.
	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nserver_key: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		mirror, primary, key, r.path("prefix1")))
	r.client1("sync")
	r.client2("sync")

	home := r.path("server", "distpac")
	backup := r.path("backup")
	cpA(t, home, backup)

	// Two publications after the backup, which the mirror and both
	// clients take.
	r.server("add", r.mkpkg("beta", "1.0.0", 2000))
	r.server("add", r.mkpkg("gamma", "1.0.0", 2000))
	held := r.publishedSerial("server")
	r.waitServed()
	r.mirrorServes(held)
	for _, sync := range []func(...string) string{r.client1, r.client2} {
		if out := sync("sync"); !strings.Contains(out, fmt.Sprintf("catalog updated: serial %d, 3 package versions", held)) {
			t.Fatalf("sync before the restore: want serial %d: %s", held, out)
		}
	}

	// The publisher's home restored as it was at the backup. A restore
	// comes later than what it undoes: the clock is past the serials
	// published since the backup (two in a second, the second one a
	// second ahead of it).
	r.server("stop")
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	cpA(t, backup, home)
	if !poll(5*time.Second, func() bool { return catalog.TimeSerial(time.Now()) > held }) {
		t.Fatalf("the clock never passed serial %d", held)
	}
	// start publishes the catalog.db copied into place under a new serial
	// (a file replaced while stopped), then add once more.
	r.server("start")
	r.server("add", r.mkpkg("delta", "1.0.0", 2000))
	restored := r.publishedSerial("server")
	t.Logf("published serial %d after the restore; the mirror and the clients held %d", restored, held)
	if restored <= held {
		t.Errorf("the restored publisher published serial %d, not above the %d its mirror and clients hold", restored, held)
	}
	r.waitServed()
	r.mirrorServes(restored)
	for name, sync := range map[string]func(...string) string{"client1": r.client1, "client2": r.client2} {
		out := sync("sync")
		if !strings.Contains(out, fmt.Sprintf("catalog updated: serial %d, 2 package versions", restored)) {
			t.Errorf("%s sync after the restore: want serial %d with alpha and delta: %s", name, restored, out)
		}
		list := sync("list")
		if !strings.Contains(list, "delta") || strings.Contains(list, "beta") || strings.Contains(list, "gamma") {
			t.Errorf("%s list after the restore, want alpha and delta alone:\n%s", name, list)
		}
	}
	if st := serverStatus(t, r, "mirror", "mirror.yaml"); st.SyncError != "" || len(st.Behind) != 0 {
		t.Errorf("mirror status after the restore: %+v; want no failure, nothing behind", st)
	}
}

// TestRestoredInPlaceRepublishedAtStart: a publisher's data home restored
// from a backup by copying it back over the files in place (cp -a
// backup/. home/: catalog.db keeps its inode, and gets the backup's
// bytes, mtime and seal back) is published again by start, above the
// serial its client holds, which follows it without an add. The start
// took the restored catalog.db for the file it had sealed and published,
// and served the backup's pair under its old serial, below the client's,
// until the next publication; a restore by rm -rf and cp -a did the same
// whenever ext4 gave the new catalog.db the inode number just freed (two
// restores of five here).
func TestRestoredInPlaceRepublishedAtStart(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	r := newRig(t, "")
	r.server("add", r.mkpkg("alpha", "1.0.0", 2000))
	r.server("start")
	r.client1("sync")
	r.server("stop")
	home := r.path("server", "distpac")
	backup := r.path("backup")
	cpA(t, home, backup)

	r.server("start")
	r.server("add", r.mkpkg("beta", "1.0.0", 2000))
	held := r.publishedSerial("server")
	if out := r.client1("sync"); !strings.Contains(out, fmt.Sprintf("catalog updated: serial %d, 2 package versions", held)) {
		t.Fatalf("sync before the restore: want serial %d: %s", held, out)
	}
	r.server("stop")
	cpA(t, backup+"/.", home)
	if !poll(5*time.Second, func() bool { return catalog.TimeSerial(time.Now()) > held }) {
		t.Fatalf("the clock never passed serial %d", held)
	}
	r.server("start")
	restored := r.publishedSerial("server")
	if restored <= held {
		t.Fatalf("start after the restore in place serves serial %d, not above the %d its client holds", restored, held)
	}
	r.waitServed()
	if out := r.client1("sync"); !strings.Contains(out, fmt.Sprintf("catalog updated: serial %d, 1 package version", restored)) {
		t.Errorf("sync after the restore: want serial %d with alpha alone: %s", restored, out)
	}
}

// mirrorServes waits until the mirror serves catalog serial n, and fails
// the test with what its status says when it does not.
func (r *rig) mirrorServes(n int64) {
	r.t.Helper()
	var st mirrorSyncStatus
	if !poll(20*time.Second, func() bool {
		st = serverStatus(r.t, r, "mirror", "mirror.yaml")
		return st.Serial == n
	}) {
		r.t.Fatalf("the mirror never served serial %d: %+v", n, st)
	}
}

// cpA copies the directory src to dst as an operator's backup does (cp
// -a: modes kept, so the signing key stays the owner's alone).
func cpA(t *testing.T, src, dst string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
}
