package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/proctest"
)

// TestSyncBehindMirror: a client of a primary and its mirror, the mirror
// a publication behind (it syncs every hour here, every minute by
// default), syncs while the primary is down. The mirror's catalog is
// valid and signed but older than the one held: sync keeps the one held,
// says the mirror has not caught up yet and exits 0, in text, in --json
// and with --from the mirror. Before, it exited 1: "none of the 2 servers
// gave a usable catalog: … refusing a rollback" (a newcomer's run). Once
// the catalog held expires, the lagging mirror does not hide it: sync
// fails, saying so. Before that, the mirror's catalog, older, expires:
// the mirror is then behind and stale, and the sync keeps the catalog
// held, saying so.
func TestSyncBehindMirror(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a primary, a mirror and a client, and a catalog left to expire")
	}
	const validFor = 30 * time.Second
	r := newRig(t, fmt.Sprintf("catalog_valid_for: %s\n", validFor))
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	r.server("add", r.mkpkg("alpha", "1.0.0", 2000))
	r.server("start")
	key := strings.TrimSpace(r.server("key"))
	r.startMirror(fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.1:0\"\n", r.h.mirrorAddr), mirror, "alpha-1.0.0.tar.zst", "--interval", "1h", primary)
	r.writeYAML("client1.yaml", fmt.Sprintf("server_urls:\n  - %s\n  - %s\nserver_key: %q\nprefix: %q\npeer_addr: \"127.0.0.1:0\"\n",
		primary, mirror, key, r.path("prefix1")))

	// A publication the mirror does not follow (for an hour).
	r.server("add", r.mkpkg("beta", "1.0.0", 2000))
	if !poll(20*time.Second, func() bool {
		r.client1("sync")
		_, err := r.try("dist-client", "client1", "client1.yaml", "info", "beta")
		return err == nil
	}) {
		t.Fatal("the client never synced the catalog with beta")
	}
	// The mirror's catalog expires some seconds before the client's: the
	// primary re-signs its catalog when half its validity is left, and
	// the client follows, while the mirror does not.
	mirrorValid := servedMeta(t, mirror).ValidUntil
	if !poll(validFor, func() bool {
		time.Sleep(500 * time.Millisecond) // the primary looks to re-sign every 500 ms
		r.client1("sync")
		return heldValidUntil(t, r).After(mirrorValid.Add(8 * time.Second))
	}) {
		t.Fatalf("the catalog held is valid until %v, the mirror's until %v: want the held one 8 s longer (the primary re-signed)", heldValidUntil(t, r), mirrorValid)
	}
	held := syncJSON(t, r, "sync", "--json")
	behind, _ := r.mirrorStatus("mirror", "mirror.yaml")
	if behind >= held.Serial {
		t.Fatalf("the mirror serves serial %d, the client holds %d: want the mirror behind", behind, held.Serial)
	}
	r.server("stop")

	out, err := r.try("dist-client", "client1", "client1.yaml", "sync")
	t.Logf("sync, primary down, mirror behind:\n%s", out)
	if err != nil {
		t.Fatalf("sync with the primary down and the mirror behind: %v; want exit 0, the catalog held kept", err)
	}
	for _, want := range []string{
		"warning: server " + primary + " failed (after ",
		fmt.Sprintf("warning: %s serves an older catalog (serial %d; serial %d held): a mirror that has not caught up yet, or a publisher restored from a backup while its clock is behind: there, 'dist-server republish --past %d' publishes past it\n", mirror, behind, held.Serial, held.Serial),
		fmt.Sprintf("catalog up to date: serial %d, 2 package versions (no server that answered has a newer one)\n", held.Serial),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sync output lacks %q", want)
		}
	}
	if strings.Contains(out, "rollback") || strings.Contains(out, "catalog from") {
		t.Errorf("sync output speaks of a rollback, or of a catalog taken from a server:\n%s", out)
	}
	js := syncJSON(t, r, "sync", "--json")
	if js.Updated || js.Serial != held.Serial || js.Server != "" || len(js.Behind) != 1 ||
		js.Behind[0].Server != mirror || js.Behind[0].Serial != behind || !strings.Contains(js.Behind[0].Note, "has not caught up yet") {
		t.Errorf("sync --json = %+v; want serial %d kept, %s behind at %d", js, held.Serial, mirror, behind)
	}
	out, err = r.try("dist-client", "client1", "client1.yaml", "sync", "--from", mirror)
	if err != nil || !strings.Contains(out, mirror+" serves an older catalog (serial "+strconv.FormatInt(behind, 10)+"; serial "+strconv.FormatInt(held.Serial, 10)+" held)") ||
		!strings.Contains(out, "catalog up to date: serial "+strconv.FormatInt(held.Serial, 10)) {
		t.Errorf("sync --from the mirror behind: %v\n%s", err, out)
	}
	if _, err := r.try("dist-client", "client1", "client1.yaml", "info", "beta"); err != nil {
		t.Errorf("the catalog held lost beta: %v", err)
	}

	// The mirror's catalog, older, expires first: the mirror is behind
	// and stale (it no longer follows its primary), and the catalog held,
	// newer and valid, is kept as before. Before, the sync failed:
	// "catalog from MIRROR expired 1s ago".
	heldValid := heldValidUntil(t, r)
	time.Sleep(time.Until(mirrorValid) + 1500*time.Millisecond)
	out, err = r.try("dist-client", "client1", "client1.yaml", "sync")
	t.Logf("sync, primary down, mirror behind and expired:\n%s", out)
	if err != nil {
		t.Errorf("sync with the primary down and the mirror behind, its catalog expired: %v; want exit 0, the catalog held kept", err)
	}
	for _, want := range []string{
		fmt.Sprintf("warning: %s serves an older catalog (serial %d) that expired ", mirror, behind),
		" ago: it has not caught up and is no longer re-signed (a mirror that stopped following its primary?)\n",
		fmt.Sprintf("catalog up to date: serial %d, 2 package versions (no server that answered has a newer one)\n", held.Serial),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("sync output lacks %q", want)
		}
	}
	js = syncJSON(t, r, "sync", "--json")
	if js.Updated || js.Serial != held.Serial || len(js.Behind) != 1 || js.Behind[0].Server != mirror || !js.Behind[0].Stale ||
		!js.Behind[0].ValidUntil.Equal(mirrorValid) || !strings.Contains(js.Behind[0].Note, "that expired") {
		t.Errorf("sync --json = %+v; want serial %d kept, %s behind and stale", js, held.Serial, mirror)
	}
	if time.Now().After(heldValid) {
		t.Fatalf("the catalog held expired (at %v) before its checks ended: the host is too slow for this test", heldValid)
	}

	// Once the catalog held is past its valid_until, the sync fails.
	if wait := time.Until(heldValid) + 1500*time.Millisecond; wait < validFor+10*time.Second {
		time.Sleep(wait)
	} else {
		t.Fatalf("the catalog held is valid until %v, more than %v from now", heldValid, validFor)
	}
	out, err = r.try("dist-client", "client1", "client1.yaml", "sync")
	t.Logf("sync once the catalog held expired:\n%s", out)
	if err == nil || !strings.Contains(out, "expired") || strings.Contains(out, "catalog up to date") {
		t.Errorf("sync after the catalog held expired: %v\n%s\nwant a failure saying it expired", err, out)
	}
}

// syncResult is dist-client sync --json.
type syncResult struct {
	Updated bool   `json:"updated"`
	Serial  int64  `json:"serial"`
	Server  string `json:"server"`
	Behind  []struct {
		Server     string    `json:"server"`
		Serial     int64     `json:"serial"`
		ValidUntil time.Time `json:"valid_until"`
		Stale      bool      `json:"stale"`
		Note       string    `json:"note"`
	} `json:"behind"`
}

// servedMeta is the meta row of the catalog the server at url serves.
func servedMeta(t *testing.T, url string) catalog.Meta {
	t.Helper()
	code, b := get(t, url+"/packages.db")
	path := filepath.Join(t.TempDir(), "packages.db")
	if code != 200 || os.WriteFile(path, b, 0o644) != nil {
		t.Fatalf("GET %s/packages.db: %d", url, code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m, err := db.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// heldValidUntil is the valid_until of client1's catalog (status --json).
func heldValidUntil(t *testing.T, r *rig) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := proctest.Output(r.cmd(ctx, "dist-client", "client1", "client1.yaml", "status", "--json"))
	var st struct {
		Catalog struct {
			ValidUntil time.Time `json:"valid_until"`
		} `json:"catalog"`
	}
	if err != nil || json.Unmarshal(b, &st) != nil || st.Catalog.ValidUntil.IsZero() {
		t.Fatalf("status --json: %v\n%s", err, b)
	}
	return st.Catalog.ValidUntil
}

// syncJSON runs client1's dist-client with args (a sync --json) and
// decodes its standard output.
func syncJSON(t *testing.T, r *rig, args ...string) syncResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := proctest.Output(r.cmd(ctx, "dist-client", "client1", "client1.yaml", args...))
	var res syncResult
	if err != nil || json.Unmarshal(out, &res) != nil {
		t.Fatalf("dist-client %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return res
}

// TestMirrorRestartRemembersPrimary: `dist-server mirror` restarted
// without a URL follows the primary its data home followed, and says so.
// Before, it refused: "no primary URL: give it as an argument, or in
// DISTPAC_PRIMARY_URLS" (a newcomer's run).
func TestMirrorRestartRemembersPrimary(t *testing.T) {
	t.Parallel() // a waiting test (e2e_test.go)
	if testing.Short() {
		t.Skip("a primary and a mirror started twice")
	}
	r := newRig(t, "")
	primary := "http://" + r.h.dbAddr
	mirror := "http://" + r.h.mirrorAddr
	r.server("add", r.mkpkg("alpha", "1.0.0", 2000))
	r.server("start")
	r.startMirror(fmt.Sprintf("database_addr: %q\npeer_addr: \"127.0.0.1:0\"\n", r.h.mirrorAddr), mirror, "alpha-1.0.0.tar.zst", "--interval", "1h", primary)
	r.run("dist-server", "mirror", "mirror.yaml", "stop")

	out, err := r.try("dist-server", "mirror", "mirror.yaml", "mirror", "--interval", "1h")
	t.Logf("mirror restarted without a URL:\n%s", out)
	if err != nil || !strings.Contains(out, "following "+primary+", as the mirror last started in this data home did (") ||
		!strings.Contains(out, "dist-server mirror running") {
		t.Fatalf("mirror without a URL: %v\n%s", err, out)
	}
	if st := r.run("dist-server", "mirror", "mirror.yaml", "status"); !strings.Contains(st, "mirror of: "+primary) {
		t.Errorf("status of the mirror restarted:\n%s", st)
	}
}
