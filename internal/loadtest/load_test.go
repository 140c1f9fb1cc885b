package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/signing"
	"github.com/distpac/distpac/internal/tracker"
)

// Load sizes. They are sized for a shared 2-core machine: the whole test
// stays well under 40 s there when it has the machine to itself, and took
// 51-56 s beside three busy loops and an e2e script. deadline only bounds
// a hang: it is shared by the three phases, so it must hold all of them
// on a loaded machine (at 90 s the announce phase ran out of it once).
const (
	syncClients     = 1000
	syncInFlight    = 100
	announces       = 10000
	announceFlight  = 64
	infoHashes      = 16 // 625 peers each, below the tracker's 1000 per swarm
	catalogPackages = 6
	deadline        = 5 * time.Minute
)

func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test: skipped with -short")
	}
	raiseNoFile(t)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	pub, snap, archives := buildCatalog(ctx, t, catalogPackages)
	catURL := serve(t, newCatalogServer(pub, snap, archives).Handler())

	// Every simulated peer announces from 127.0.0.1: lift the per-address
	// bound, which would otherwise keep 16 of them per torrent.
	tr := tracker.New(tracker.Options{MaxPeersPerIP: -1})
	trURL := serve(t, tr.Handler())

	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	}}
	t.Cleanup(client.CloseIdleConnections)

	t.Run("sync", func(t *testing.T) {
		dirs := make([]string, syncClients)
		root := t.TempDir()
		for i := range dirs {
			dirs[i] = filepath.Join(root, strconv.Itoa(i))
		}
		// First round: every client downloads, verifies and installs the
		// catalog. Second round: every client already holds it, so each
		// sync is one conditional GET answered 304.
		for _, round := range []struct {
			name    string
			updated bool
		}{{"initial", true}, {"conditional", false}} {
			lat, elapsed := run(ctx, t, syncClients, syncInFlight, func(ctx context.Context, i int) error {
				res, err := catalogclient.Sync(ctx, catalogclient.Options{
					ServerURL: catURL, Dir: dirs[i], Key: pub, HTTPClient: client,
				})
				if err != nil {
					return err
				}
				if res.Serial != snap.Serial || res.Packages != catalogPackages || res.Updated != round.updated {
					return fmt.Errorf("client %d: serial %d packages %d updated %v, want %d %d %v",
						i, res.Serial, res.Packages, res.Updated, snap.Serial, catalogPackages, round.updated)
				}
				return nil
			})
			report(t, round.name+" catalog sync", lat, elapsed)
		}
	})

	// The server side alone: sync above is bound by the clients' fsyncs
	// (atomic catalog and sync.json writes), so this shows what the
	// catalog server itself sustains for the same 1,000 clients.
	t.Run("get", func(t *testing.T) {
		lat, elapsed := run(ctx, t, syncClients, syncInFlight, func(ctx context.Context, i int) error {
			return fetchVerified(ctx, client, catURL, pub)
		})
		report(t, "GET packages.db+sig+verify", lat, elapsed)
	})

	t.Run("announce", func(t *testing.T) {
		var ihs [infoHashes][20]byte
		for i := range ihs {
			copy(ihs[i][:], fmt.Sprintf("distpac-loadtest-%03d", i))
		}
		lat, elapsed := run(ctx, t, announces, announceFlight, func(ctx context.Context, i int) error {
			return announce(ctx, client, trURL, ihs[i%infoHashes], uint16(10000+i), i%3 == 0)
		})
		report(t, "tracker announce", lat, elapsed)
		st := tr.Stats()
		t.Logf("tracker: %+v", st)
		if st.Announces != announces || st.Peers != announces || st.Torrents != infoHashes {
			t.Errorf("tracker holds %+v, want %d announces, %d peers, %d torrents", st, announces, announces, infoHashes)
		}
	})
}

// run calls do(i) for i in [0, n) with at most inFlight at once and returns
// each call's latency and the wall time. Any error fails the test, listing
// the first few.
func run(ctx context.Context, t *testing.T, n, inFlight int, do func(ctx context.Context, i int) error) ([]time.Duration, time.Duration) {
	t.Helper()
	lat := make([]time.Duration, n)
	var failed atomic.Int64
	var mu sync.Mutex
	var first []error
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inFlight)
	start := time.Now()
	for i := range n {
		g.Go(func() error {
			t0 := time.Now()
			err := do(gctx, i)
			lat[i] = time.Since(t0)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if len(first) < 5 {
					first = append(first, err)
				}
				mu.Unlock()
			}
			return nil // keep going: count every error
		})
	}
	g.Wait()
	elapsed := time.Since(start)
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", f, n, errors.Join(first...))
	}
	if err := ctx.Err(); err != nil {
		t.Fatalf("deadline: %v", err)
	}
	return lat, elapsed
}

func report(t *testing.T, what string, lat []time.Duration, elapsed time.Duration) {
	t.Helper()
	s := slices.Clone(lat)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	t.Logf("%-26s n=%d in %v: %.0f req/s; latency p50 %v p90 %v p99 %v max %v",
		what, len(s), elapsed.Round(time.Millisecond), float64(len(s))/elapsed.Seconds(),
		q(.50).Round(10*time.Microsecond), q(.90).Round(10*time.Microsecond),
		q(.99).Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// fetchVerified downloads the catalog and its signature unconditionally
// and checks that they belong together and verify with pub.
func fetchVerified(ctx context.Context, c *http.Client, base string, pub signing.PublicKey) error {
	var bodies [2][]byte
	var etags [2]string
	for i, p := range []string{catalogserver.PathCatalog, catalogserver.PathSignature} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		bodies[i], err = io.ReadAll(io.LimitReader(resp.Body, catalogclient.DefaultMaxSize))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s: read: %w", p, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", p, resp.Status)
		}
		etags[i] = resp.Header.Get("ETag")
	}
	if etags[0] == "" || etags[0] != etags[1] {
		return fmt.Errorf("catalog and signature ETags differ: %s, %s", etags[0], etags[1])
	}
	return signing.Verify(pub, bodies[0], bodies[1])
}

// announce sends one HTTP announce and checks the reply is a bencoded dict
// with an interval and no failure reason.
func announce(ctx context.Context, c *http.Client, base string, ih [20]byte, port uint16, seeder bool) error {
	q := url.Values{}
	q.Set("info_hash", string(ih[:]))
	q.Set("peer_id", fmt.Sprintf("-DP0001-%012d", port))
	q.Set("port", strconv.Itoa(int(port)))
	q.Set("uploaded", "0")
	q.Set("downloaded", "0")
	left := "1000"
	if seeder {
		left = "0"
	}
	q.Set("left", left)
	q.Set("compact", "1")
	q.Set("event", "started")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/announce?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("port %d: read: %w", port, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("port %d: %s: %q", port, resp.Status, body)
	}
	var out struct {
		Failure  string `bencode:"failure reason"`
		Interval int    `bencode:"interval"`
	}
	if err := bencode.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("port %d: decode %q: %w", port, body, err)
	}
	if out.Failure != "" || out.Interval <= 0 {
		return fmt.Errorf("port %d: failure %q interval %d", port, out.Failure, out.Interval)
	}
	return nil
}

// buildCatalog publishes a few generated packages with the real publisher
// and returns the server's public key, the signed snapshot and the archive
// names.
func buildCatalog(ctx context.Context, t *testing.T, packages int) (signing.PublicKey, publish.Snapshot, []string) {
	t.Helper()
	cfg := &config.Server{}
	cfg.ApplyDefaults()
	p := &publish.Publisher{
		Paths:  paths.Home{Root: t.TempDir()}.Server(),
		Config: cfg,
		Logger: slog.New(slog.DiscardHandler),
	}
	src := t.TempDir()
	var dirs []string
	for i := range packages {
		dir := filepath.Join(src, fmt.Sprintf("pkg%d", i))
		deps := ""
		if i > 0 {
			deps = fmt.Sprintf("depends:\n  - pkg%d >=1.0\n", i-1)
		}
		files := map[string]string{
			"manifest.yaml":        fmt.Sprintf("version: 1.%d.0\ndescription: load test package %d\n%s", i, i, deps),
			"assets/data.bin":      strings.Repeat(fmt.Sprintf("payload %d ", i), 4096),
			"scripts/install.sh":   "#!/bin/sh\n",
			"scripts/uninstall.sh": "#!/bin/sh\n",
		}
		for rel, data := range files {
			path := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	res, err := p.Add(ctx, dirs)
	if err != nil {
		t.Fatal(err)
	}
	var archives []string
	for _, r := range res {
		archives = append(archives, r.Package.Archive)
	}
	key, err := signing.Load(p.Paths.SigningKey())
	if err != nil {
		t.Fatal(err)
	}
	db, err := catalog.Open(ctx, p.Paths.Catalog())
	if err != nil {
		t.Fatal(err)
	}
	meta, err := db.Meta(ctx)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := publish.ReadPublished(ctx, p.Paths.PublicDir(), key.Public(), meta.Serial)
	if err != nil {
		t.Fatal(err)
	}
	return key.Public(), snap, archives
}

// newCatalogServer serves the signed snapshot as dist-server does.
func newCatalogServer(pub signing.PublicKey, snap publish.Snapshot, archives []string) *catalogserver.Server {
	s := catalogserver.New(catalogserver.Options{ArchivesDir: os.TempDir()})
	s.SetKey(pub)
	s.SetSnapshot(snap.DB, snap.Sig, snap.Serial, archives)
	return s
}

// serve runs h on 127.0.0.1 with the catalog server's hardened settings and
// returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := connlimit.NewHTTPServer(h, nil)
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// raiseNoFile lifts the soft open-files limit to the hard one: 100 syncs in
// flight each hold a socket and a few files on both ends of loopback.
func raiseNoFile(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Logf("setrlimit: %v", err)
		}
	}
	t.Logf("open files limit: %d", lim.Cur)
}
