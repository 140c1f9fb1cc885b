package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/proctest"
)

// TestMirrorPrimaryBehind: a mirror restarted to follow another primary
// URL, a static copy of the publisher's catalog (named-file-server) a
// publication older than the catalog the mirror holds. That primary is
// behind, not down: the mirror serves the catalog it holds on, logs once
// that the primary is behind, and its status and metrics say behind,
// not failed. Before, every round (300 ms here, a minute by default)
// logged "sync from the primary failed … refusing a rollback", status
// said "failed: sync at …" and distpac_mirror_sync_failing was 1. Once
// the copy is brought up to date, the mirror says it has caught up.
func TestMirrorPrimaryBehind(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a primary, a static copy of its catalog and a mirror")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	r.server("add", r.mkpkg("alpha", "1.0.0", 2000))
	r.server("start")

	// The copy, at the first serial.
	first := r.publishedSerial("server")
	static := r.path("static")
	if err := os.MkdirAll(static, 0o755); err != nil {
		t.Fatal(err)
	}
	copyPair := func() {
		t.Helper()
		for _, name := range []string{"packages.db", "packages.db.sig"} {
			b, err := os.ReadFile(r.path("server", "distpac", "server", "public", name))
			if err == nil {
				err = os.WriteFile(filepath.Join(static, name+".tmp"), b, 0o644)
			}
			if err == nil {
				err = os.Rename(filepath.Join(static, name+".tmp"), filepath.Join(static, name))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	copyPair()
	copyURL := "http://" + nettest.FreeAddr(t)
	nfs := exec.Command(filepath.Join(binDir, "named-file-server"), "--socket", strings.TrimPrefix(copyURL, "http://"),
		filepath.Join(static, "packages.db"), filepath.Join(static, "packages.db.sig"))
	if err := proctest.Start(nfs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nfs.Process.Kill(); nfs.Wait() })
	if !poll(10*time.Second, func() bool {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(copyURL + "/packages.db")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatal("named-file-server never served the copy")
	}

	r.startMirror(r.mirrorYAML(""), mirror, "alpha-1.0.0.tar.zst", "--interval", "300ms", primary)
	r.server("add", r.mkpkg("beta", "1.0.0", 2000))
	second := r.publishedSerial("server")
	if !poll(20*time.Second, func() bool { return serverStatus(t, r, "mirror", "mirror.yaml").Serial == second }) {
		t.Fatalf("the mirror never took serial %d", second)
	}
	r.run("dist-server", "mirror", "mirror.yaml", "stop")
	out := r.run("dist-server", "mirror", "mirror.yaml", "mirror", "--interval", "300ms", copyURL)
	t.Logf("the mirror restarted to follow the copy:\n%s", out)

	var st mirrorSyncStatus
	if !poll(20*time.Second, func() bool {
		st = serverStatus(t, r, "mirror", "mirror.yaml")
		return len(st.Behind) > 0 || st.SyncError != ""
	}) {
		t.Fatalf("the mirror never said how its sync from the copy went: %+v", st)
	}
	time.Sleep(time.Second) // a few rounds more: said once, not every round
	st = serverStatus(t, r, "mirror", "mirror.yaml")
	if st.Serial != second || st.SyncError != "" || !st.SyncFailedAt.IsZero() || len(st.Behind) != 1 ||
		st.Behind[0].URL != copyURL || st.Behind[0].Serial != first || st.Behind[0].Stale || st.BehindSince.IsZero() {
		t.Errorf("mirror status --json = %+v; want serial %d served, no failure, %s behind at serial %d", st, second, copyURL, first)
	}
	text := r.run("dist-server", "mirror", "mirror.yaml", "status")
	t.Logf("mirror status:\n%s", text)
	if !strings.Contains(text, fmt.Sprintf("behind:    %s serves serial %d, older than the catalog held, since ", copyURL, first)) ||
		!strings.Contains(text, fmt.Sprintf(" (serving serial %d)\n", second)) || strings.Contains(text, "failed:") {
		t.Errorf("mirror status does not say the primary is behind, or says a sync failed:\n%s", text)
	}
	_, metrics := get(t, mirror+"/metrics")
	for _, want := range []string{"\ndistpac_mirror_primary_behind 1\n", "\ndistpac_mirror_sync_failing 0\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("mirror /metrics lacks %q", strings.TrimSpace(want))
		}
	}
	if code, _ := get(t, mirror+"/packages/beta-1.0.0.tar.zst"); code != 200 {
		t.Errorf("the mirror's web seed answers %d for beta, which the catalog it holds lists", code)
	}
	logPath := r.path("mirror", "distpac", "server", "server.log")
	log := readFile(logPath)
	if n := strings.Count(log, "the primary serves a catalog older than the one held: it is behind"); n != 1 ||
		strings.Contains(log, "rollback") || strings.Contains(log, "sync from the primary failed") {
		t.Errorf("%s says %d times that the primary is behind (want once), or speaks of a failed sync:\n%s", logPath, n, log)
	}

	// The copy is brought up to date: the mirror says the primary has
	// caught up, and serves the same catalog on. A round between the
	// copy's two renames fails on the signature (the new packages.db, the
	// old .sig): the next round syncs.
	copyPair()
	if !poll(20*time.Second, func() bool {
		st = serverStatus(t, r, "mirror", "mirror.yaml")
		return len(st.Behind) == 0 && st.SyncError == ""
	}) {
		t.Fatalf("the mirror never saw the copy catch up: %+v", st)
	}
	if st.Serial != second || st.SyncError != "" || !strings.Contains(readFile(logPath), "the primary has caught up with the catalog held") {
		t.Errorf("after the copy caught up: %+v\n%s", st, readFile(logPath))
	}
}

// mirrorSyncStatus is what dist-server status --json says of a server's
// catalog, and of a mirror's syncs.
type mirrorSyncStatus struct {
	Serial       int64     `json:"serial"`
	SyncError    string    `json:"sync_error"`
	SyncFailedAt time.Time `json:"sync_failed_at"`
	Behind       []struct {
		URL    string `json:"url"`
		Serial int64  `json:"serial"`
		Stale  bool   `json:"stale"`
	} `json:"primary_behind"`
	BehindSince time.Time `json:"primary_behind_since"`
}

// serverStatus is dist-server status --json in home with config.
func serverStatus(t *testing.T, r *rig, home, config string) mirrorSyncStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := proctest.Output(r.cmd(ctx, "dist-server", home, config, "status", "--json"))
	var st mirrorSyncStatus
	if err != nil || json.Unmarshal(out, &st) != nil {
		t.Fatalf("dist-server status --json (%s): %v\n%s", home, err, out)
	}
	return st
}
