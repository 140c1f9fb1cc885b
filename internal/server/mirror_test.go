package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
)

// freeAddr is a loopback address nothing listens on right now, not given
// out before in this test binary.
func freeAddr(t *testing.T) string { return nettest.FreeAddr(t) }

// writePackage writes a package directory of size pseudo-random bytes.
func writePackage(t *testing.T, name string, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + len(name))
	}
	for rel, content := range map[string][]byte{
		"manifest.yaml":        []byte("version: 1.0.0\n"),
		"assets/data.bin":      data,
		"scripts/install.sh":   []byte("#!/bin/sh\n"),
		"scripts/uninstall.sh": []byte("#!/bin/sh\n"),
	} {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fetch(t *testing.T, url string) (int, []byte) {
	t.Helper()
	code, b, _ := fetchHeader(t, url)
	return code, b
}

// testLogger logs at Info to the test's output, shown when it fails: a
// stuck mirror then tells which serial each side had.
func testLogger(t *testing.T, who string) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil)).With("who", who)
}

// waitFor polls cond every 50 ms for at most 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newPrimary is a primary server's configuration (on free loopback
// ports), data home and publisher, with pkgs published.
func newPrimary(ctx context.Context, t *testing.T, pkgs ...string) (*config.Server, paths.Server, *publish.Publisher) {
	t.Helper()
	cfg := &config.Server{DatabaseAddr: freeAddr(t), TrackerAddr: freeAddr(t), PeerAddr: freeAddr(t)}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	primary := paths.Home{Root: t.TempDir()}.Server()
	pub := &publish.Publisher{Paths: primary, Config: cfg}
	if _, err := pub.Add(ctx, pkgs); err != nil {
		t.Fatal(err)
	}
	return cfg, primary, pub
}

// runPrimary runs the primary of cfg and primary on servers until ctx
// ends, its end sent to done, and returns its Info once it is ready. It
// logs to the test's output unless opts has a Logger.
func runPrimary(ctx context.Context, t *testing.T, servers *sync.WaitGroup, done chan error, opts Options) Info {
	t.Helper()
	ready := make(chan Info, 1)
	opts.Ready, opts.PollInterval = func(i Info) { ready <- i }, 100*time.Millisecond
	if opts.Logger == nil {
		opts.Logger = testLogger(t, "primary")
	}
	servers.Go(func() { done <- Run(ctx, opts) })
	select {
	case i := <-ready:
		return i
	case err := <-done:
		t.Fatalf("primary: %v", err)
	}
	return Info{}
}

// RunMirror in process, under the race detector: it follows a running
// primary's additions and withdrawals, downloads and seeds the archives
// (from the primary's seeder), and serves the primary's pair byte for
// byte with the archives it has.
func TestRunMirror(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, pub := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	ready := make(chan Info, 1)
	done := make(chan error, 2)
	// The servers log to the test's output: they end before the test does.
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg})

	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	mirrorPaths := paths.Home{Root: t.TempDir()}.Server()
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: mirrorPaths, Config: mcfg, Primary: []string{pinfo.Database}, Interval: 100 * time.Millisecond, Logger: testLogger(t, "mirror"),
			Ready: func(i Info) { ready <- i }})
	})
	var minfo Info
	select {
	case minfo = <-ready:
	case err := <-done:
		t.Fatalf("mirror: %v", err)
	}
	same := func() bool {
		for _, f := range []string{"/packages.db", "/packages.db.sig"} {
			ca, a := fetch(t, pinfo.Database+f)
			cb, b := fetch(t, minfo.Database+f)
			if ca != 200 || cb != 200 || !bytes.Equal(a, b) {
				return false
			}
		}
		return true
	}
	if !same() {
		t.Fatal("the mirror does not serve the primary's pair at start")
	}
	archive := func(name string) int {
		code, _ := fetch(t, minfo.Database+"/packages/"+name+"-1.0.0.tar.zst")
		return code
	}
	// The catalog is served at once, each archive as it comes in.
	waitFor(t, "the mirror's web seed to serve alpha", func() bool { return archive("alpha") == 200 })
	// Its /metrics has its seeder's figures, as a publisher's, and its
	// sync's: it had only the HTTP listeners', so a mirror's uploads and
	// a mirror left behind showed nowhere a scraper looks.
	// Its status counts what its web seed sent beside its seeder's
	// upload, as the primary's does: both said only the seeder's.
	for name, i := range map[string]Info{"mirror": minfo, "primary": pinfo} {
		code, body := fetch(t, i.Database+"/packages/alpha-1.0.0.tar.zst")
		if code != 200 {
			t.Fatalf("%s's web seed answered %d for alpha", name, code)
		}
		var st Status
		waitFor(t, name+"'s status to count its web seed's bytes", func() bool {
			_, b := fetch(t, i.Control+"/status")
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatalf("%s status: %v: %s", name, err, b)
			}
			return st.WebSeedBytes >= int64(len(body))
		})
	}
	lacked := map[string]bool{} // each logged once
	waitFor(t, "the mirror's metrics to show alpha seeded", func() bool {
		_, b := fetch(t, minfo.Database+"/metrics")
		for _, want := range []string{"\ndistpac_packages 1\n", "\ndistpac_seeding_torrents 1\n", "\ndistpac_seeder_uploaded_bytes_total ",
			"\ndistpac_seeder_connected_peers ", "\ndistpac_package_seeder_uploaded_bytes_total{package=\"alpha@1.0.0\"} ", "\ndistpac_mirror_sync_failing 0\n"} {
			if !bytes.Contains(b, []byte(want)) {
				if !lacked[want] {
					t.Logf("mirror /metrics lacks %q", want)
				}
				lacked[want] = true
				return false
			}
		}
		return !bytes.Contains(b, []byte("\ndistpac_mirror_synced_timestamp_seconds 0\n")) && bytes.Contains(b, []byte("\ndistpac_mirror_synced_timestamp_seconds "))
	})

	// The primary publishes beta: the mirror serves the new pair, and beta
	// once it has it; then it withdraws alpha.
	if _, err := pub.Add(ctx, []string{writePackage(t, "beta", 100<<10)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mirror to serve beta", func() bool { return same() && archive("beta") == 200 })
	if _, err := pub.Remove(ctx, []catalog.Ref{{Name: "alpha", Version: "1.0.0"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mirror to drop alpha", func() bool { return same() && archive("alpha") == 404 })
	if _, err := os.Stat(filepath.Join(mirrorPaths.MirrorArchives(), "alpha-1.0.0.tar.zst")); !os.IsNotExist(err) {
		t.Errorf("withdrawn archive kept: %v", err)
	}
	// The last package withdrawn: a catalog of none drops it too (the
	// review found a catalog of no rows never reaching the drop).
	if _, err := pub.Remove(ctx, []catalog.Ref{{Name: "beta", Version: "1.0.0"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mirror to drop beta", func() bool {
		_, err := os.Stat(filepath.Join(mirrorPaths.MirrorArchives(), "beta-1.0.0.tar.zst"))
		return same() && archive("beta") == 404 && os.IsNotExist(err)
	})
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}

// A mirror started again while its primary cannot be reached serves the
// catalog it holds only beside a key that verifies it: with another --key
// it served the old catalog beside the new key, and every client that
// trusted that key on first use refused the catalog.
func TestMirrorRestartChecksHeldCatalog(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 20<<10))
	key, err := signing.Load(primary.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	other, err := signing.LoadOrCreate(filepath.Join(t.TempDir(), "other.key"))
	if err != nil {
		t.Fatal(err)
	}
	mirrorPaths := paths.Home{Root: t.TempDir()}.Server()
	mcfg := &config.Server{DatabaseAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	// runMirror runs the mirror until it is ready, and returns its status
	// then (what dist-server status shows).
	runMirror := func(ctx context.Context, primaryURL string, k signing.PublicKey) (Status, error) {
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		var st Status
		err := RunMirror(mctx, MirrorOptions{Paths: mirrorPaths, Config: mcfg, Primary: []string{primaryURL}, Key: k, Interval: time.Hour,
			Logger: testLogger(t, "mirror"), Ready: func(i Info) {
				defer stop()
				_, b := fetch(t, i.Control+"/status")
				if err := json.Unmarshal(b, &st); err != nil {
					t.Errorf("status %q: %v", b, err)
				}
			}})
		return st, err
	}

	// A first run, with the primary up, holds its catalog.
	pctx, stopPrimary := context.WithCancel(ctx)
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(pctx, Options{Paths: primary, Config: cfg, Ready: func(i Info) { ready <- i }, Logger: testLogger(t, "primary")})
	}()
	var pinfo Info
	select {
	case pinfo = <-ready:
	case err := <-done:
		t.Fatalf("primary: %v", err)
	}
	st, err := runMirror(ctx, pinfo.Database, nil)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if st.SyncedAt.IsZero() || st.SyncedFrom != pinfo.Database || !st.SyncFailedAt.IsZero() {
		t.Fatalf("status after a sync: synced %v from %q, failed %v; want synced from the primary", st.SyncedAt, st.SyncedFrom, st.SyncFailedAt)
	}
	firstSync := st.SyncedAt
	stopPrimary()
	if err := <-done; err != nil {
		t.Fatalf("primary: %v", err)
	}

	// Then the primary is down: the held catalog is all there is.
	tests := []struct {
		name string
		key  signing.PublicKey
		want string // "" to start
	}{
		{"the key pinned on first use", nil, ""},
		{"the primary's key as --key", key.Public(), ""},
		{"another key as --key", other.Public(), "is not signed by the key " + other.Public().Fingerprint()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := runMirror(ctx, pinfo.Database, tt.key)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused to start: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--key")):
				t.Fatalf("got %v, want an error saying %q and naming --key", err, tt.want)
			case err != nil:
				t.Logf("refused, as it should: %v", err)
			case st.SyncFailedAt.IsZero() || !strings.Contains(st.SyncError, pinfo.Database):
				// Serving the catalog held: status says the sync failed.
				t.Fatalf("status with the primary down: sync failed at %v (%q); want the failure, naming the primary", st.SyncFailedAt, st.SyncError)
			case st.SyncedAt.Sub(firstSync).Abs() > 2*time.Second || st.SyncedFrom != pinfo.Database: // sync.json keeps seconds
				// and when the catalog held was synced, by the run before (a newcomer
				// found the line gone: how old the catalog served is was not shown)
				t.Fatalf("status with the primary down: synced %v from %q; want the first run's sync, %v from %s", st.SyncedAt, st.SyncedFrom, firstSync, pinfo.Database)
			}
		})
	}
}

// A mirror serves a catalog as soon as it has verified it, before the
// archives it cannot get yet, and reports its start once their downloads
// have been tried: it served one only once every archive was in, and a
// catalog of archives without a source (each costs the engine about 8 s)
// kept it at 503 after a start, or at its old catalog, for hours (an
// attacker's run: 10,000 such rows). Here the primary runs no seeder and
// its torrents name no web seed: the archive comes only from its
// /packages/, the last resort, once the engine finds no source.
func TestMirrorServesBeforeArchives(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, primary, _ := newPrimary(ctx, t, writePackage(t, "alpha", 300<<10))
	ready := make(chan Info, 1)
	done := make(chan error, 2)
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	pinfo := runPrimary(ctx, t, &servers, done, Options{Paths: primary, Config: cfg, NoSeeder: true})
	mcfg := &config.Server{DatabaseAddr: freeAddr(t), PeerAddr: "127.0.0.1:0"}
	mcfg.ApplyDefaults()
	mirror := "http://" + mcfg.DatabaseAddr
	mp := paths.Home{Root: t.TempDir()}.Server()
	servers.Go(func() {
		done <- RunMirror(ctx, MirrorOptions{Paths: mp, Config: mcfg, Primary: []string{pinfo.Database}, Interval: time.Minute, Logger: testLogger(t, "mirror"),
			Ready: func(i Info) { ready <- i }})
	})
	// Served while the archive is still being fetched (the primary runs no
	// seeder: about 1 s, until the engine turns to the primary's
	// /packages/); before, 503 until then.
	served := func() bool {
		resp, err := http.Get(mirror + "/packages.db")
		if err != nil {
			return false // not listening yet
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	deadline := time.Now().Add(5 * time.Second)
	for !served() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-ready:
		t.Fatal("the mirror reported ready before its archive's download ended")
	default:
	}
	for _, f := range []string{"/packages.db", "/packages.db.sig"} {
		ca, a := fetch(t, pinfo.Database+f)
		cb, b := fetch(t, mirror+f)
		if ca != 200 || cb != 200 || !bytes.Equal(a, b) {
			t.Errorf("%s within 5 s of the start: primary %d, mirror %d, same bytes %v", f, ca, cb, bytes.Equal(a, b))
		}
	}
	if code, _ := fetch(t, mirror+"/packages/alpha-1.0.0.tar.zst"); code != 404 {
		t.Errorf("an archive the mirror does not have: %d, want 404", code)
	}
	// Status answers meanwhile, saying what the mirror does: server.json
	// was written only once the archives had been tried, and status said
	// "starting" for up to 5 minutes (an operator's run).
	// server.json comes a few milliseconds after the catalog is first
	// served (mirror.go: the round serves it, then the control endpoint
	// starts): a look at the first 200 found none once.
	var info Info
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info = Info{}
		var b []byte
		if b, err = os.ReadFile(mp.PIDFile()); err == nil {
			err = json.Unmarshal(b, &info)
		}
		if err == nil && info.Filling && info.Control != "" || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !info.Filling || info.Control == "" {
		t.Fatalf("server.json while the archive is fetched: %+v, %v; want it there, filling, with the control endpoint", info, err)
	}
	_, b := fetch(t, info.Control+"/status")
	var st Status
	if err := json.Unmarshal(b, &st); err != nil || !st.Filling || st.Serial == 0 || st.Packages != 1 || st.Seeding != 0 || st.SyncedAt.IsZero() || st.SyncedFrom != pinfo.Database {
		t.Errorf("status while the archive is fetched: %s (%v); want filling, the catalog's serial, 1 package, 0 seeded, synced from %s", b, err, pinfo.Database)
	}
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("mirror: %v", err)
	}
	info = Info{}
	if b, err := os.ReadFile(mp.PIDFile()); err != nil || json.Unmarshal(b, &info) != nil || info.Filling {
		t.Errorf("server.json once ready: %s, %v; want it not filling", b, err)
	}
	cancel()
	for range 2 {
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}
