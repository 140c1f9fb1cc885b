package swarm

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// A client's mirrors (server_urls) are web seeds before the torrent's own,
// and a mirror that fails hands over to the next at once: one answering
// 404 (a catalog-only mirror), one answering 503, one that accepts and
// never answers (a 5 s timeout), then one with the archive. Mirrors serve
// a torrent only when its publisher names web seeds.
func TestMirrorWebSeedsFailOver(t *testing.T) {
	t.Parallel()
	srcDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(srcDir, "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, 1<<20+5)

	var mu sync.Mutex
	var hits []string
	var at []time.Time
	record := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		hits, at = append(hits, name), append(at, time.Now())
	}
	status := func(name string, code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			record(name)
			http.Error(w, name, code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	notFound, unavailable := status("404", http.StatusNotFound), status("503", http.StatusServiceUnavailable)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("hang")
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	var sent atomic.Int64
	good := webSeedServer(t, path, false, false, &sent)
	good.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("good")
		http.ServeContent(w, r, "x", time.Time{}, bytes.NewReader(data))
	})
	own := status("own", http.StatusNotFound)

	meta, err := torrentmeta.Build(path, "", MirrorSeed(own))
	if err != nil {
		t.Fatal(err)
	}
	const after = 3 * time.Second
	mirrors := []string{MirrorSeed(notFound), MirrorSeed(unavailable), MirrorSeed(hang.URL + "/"), MirrorSeed(good.URL)}
	leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: after, MirrorWebSeeds: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	if got, last := WebSeedOrder(leecher.MirrorWebSeeds(), meta.Torrent); len(got) != 5 || got[0] != mirrors[0] || got[4] != MirrorSeed(own) || last {
		t.Fatalf("web seeds %q (last resort %v): want the mirrors, then the torrent's own", got, last)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, nil, nil); err != nil {
		t.Fatalf("download through mirrors: %v", err)
	}
	got, err := os.ReadFile(filepath.Join(leechDir, "pkg-1.0.0.tar.zst"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("seeds asked %q at %v after the start", hits, offsets(start, at))
	if len(hits) < 4 || hits[0] != "404" || hits[1] != "503" || hits[2] != "hang" || hits[3] != "good" {
		t.Fatalf("seeds asked %q, want 404, 503, hang, good in that order", hits)
	}
	// The next mirror after a failure at once (well within WebSeedAfter);
	// after the hanging one, the reply timeout.
	if d := at[1].Sub(at[0]); d > after/2 {
		t.Errorf("503 asked %v after the 404, want at once", d)
	}
	if d := at[2].Sub(at[1]); d > after/2 {
		t.Errorf("the hanging mirror asked %v after the 503, want at once", d)
	}
	if d := at[3].Sub(at[2]); d < 4*time.Second || d > 4*time.Second+after {
		t.Errorf("the good mirror asked %v after the hanging one, want the 5 s reply timeout", d)
	}

	// A torrent without web seeds of its own gets the mirrors as a last
	// resort (TestMirrorsLastResort).
	plain, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if s, last := WebSeedOrder(leecher.MirrorWebSeeds(), plain.Torrent); len(s) != len(mirrors) || !last {
		t.Errorf("web seeds of a torrent without a url-list: %q, last resort %v; want the mirrors, as a last resort", s, last)
	}
}

// A torrent whose publisher names no web seed (web_seed off) is fetched
// from the client's mirrors (server_urls) only when BitTorrent has no
// source at all: not while a peer is connected, however slow, and at once
// (strandedAfter) when no peer is there and every tracker has answered.
// Before, with the publisher down (its tracker and seeder with it) behind
// a mirror, such an install failed with no source.
func TestMirrorsLastResort(t *testing.T) {
	t.Parallel()
	srcDir := t.TempDir()
	path := filepath.Join(srcDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 1<<20)
	plain, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	mirror := webSeedServer(t, path, false, false, &sent)
	mirrors := []string{MirrorSeed(mirror.URL)}

	// A slow seeder is connected: the mirror is not asked.
	seeder, err := New(Config{Dir: srcDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, UploadRate: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.Seed(context.Background(), plain.Torrent, true); err != nil {
		t.Fatal(err)
	}
	slow, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 300 * time.Millisecond, MirrorWebSeeds: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err = slow.Download(ctx, plain.Torrent, []netip.AddrPort{seeder.Addr()}, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("download from a seeder at 64 KiB/s: %v; want it still running at the deadline", err)
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("the mirror sent %d bytes while a peer was connected", n)
	}

	// A peer that gives nothing and is no seed (it claims one piece and
	// swallows requests): the mirror, once nothing came for WebSeedAfter.
	mi, err := metainfo.Load(bytes.NewReader(plain.Torrent))
	if err != nil {
		t.Fatal(err)
	}
	hole := newBlackHole(t, mi.HashInfoBytes(), 1)
	stuck, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 500 * time.Millisecond, MirrorWebSeeds: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	before := sent.Load()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel3()
	if err := stuck.Download(ctx3, plain.Torrent, []netip.AddrPort{hole.addr()}, nil); err != nil {
		t.Fatalf("download beside a peer that gives nothing: %v", err)
	}
	if n := sent.Load() - before; n == 0 {
		t.Fatal("the mirror sent nothing beside a peer that gives nothing")
	}

	// A "seed" that claims every piece and never sends (a hostile peer the
	// tracker lists): the mirror too, once the peers have sent nothing for
	// swarmWaits times WebSeedAfter. It held the last resort off for good.
	seedHole := newBlackHole(t, mi.HashInfoBytes(), 0)
	fooled, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 500 * time.Millisecond, MirrorWebSeeds: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	defer fooled.Close()
	before = sent.Load()
	ctx4, cancel4 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel4()
	start4 := time.Now()
	if err := fooled.Download(ctx4, plain.Torrent, []netip.AddrPort{seedHole.addr()}, nil); err != nil {
		t.Fatalf("download beside a seed that sends nothing: %v", err)
	}
	if n := sent.Load() - before; n == 0 || seedHole.swallowed() == 0 {
		t.Fatalf("the mirror sent %d bytes, the silent seed swallowed %d requests: want both", n, seedHole.swallowed())
	}
	t.Logf("beside a silent seed, from the mirror in %v", time.Since(start4).Round(10*time.Millisecond))

	// No peer, no tracker: the mirror, at once.
	dir := t.TempDir()
	alone, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, MirrorWebSeeds: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	defer alone.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	start := time.Now()
	if err := alone.Download(ctx2, plain.Torrent, nil, nil); err != nil {
		t.Fatalf("download with only the mirror: %v", err)
	}
	t.Logf("from the mirror in %v", time.Since(start).Round(10*time.Millisecond))
	if d := time.Since(start); d > DefaultWebSeedAfter {
		t.Errorf("the mirror was asked after %v; want at once (strandedAfter), not after the web-seed wait", d)
	}
	if n := sent.Load() - before; n < 2<<20 {
		t.Fatalf("the mirror sent %d bytes to the last two; want the whole archive to each", n)
	}
}

func offsets(start time.Time, ts []time.Time) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start).Round(10 * time.Millisecond)
	}
	return out
}

// A download with no source names every web seed that failed, not only
// the last one tried: with two servers in server_urls it named one.
func TestNoSourceNamesEveryWebSeed(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 256<<10)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	a, b := "http://"+nettest.Refused(t), "http://"+nettest.Refused(t) // two servers' base URLs
	leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 200 * time.Millisecond, GiveUpAfter: 2 * time.Second, MirrorWebSeeds: []string{MirrorSeed(a), MirrorSeed(b)}})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = leecher.Download(ctx, meta.Torrent, nil, nil)
	var ns *NoSourceError
	if !errors.As(err, &ns) {
		t.Fatalf("Download = %v, want no source", err)
	}
	// The torrent names no web seed: the servers' /packages/ are a last
	// resort, and the error says so (it called them web seeds).
	for _, seed := range []string{a, b} {
		if !strings.Contains(err.Error(), "HTTP (last resort) "+seed+"/packages/pkg-1.0.0.tar.zst") {
			t.Errorf("%v\ndoes not name %s as the last resort", err, seed)
		}
	}
}
