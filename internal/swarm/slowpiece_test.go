package swarm

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// tricklingSeed serves data as a web seed that answers a range at once
// and sends the bytes of the pieces (of pieceLen) for which slow is true
// at rate bytes a second, a tenth every 100 ms, the others at once. It
// answers its first refused requests 503 (no Retry-After: a failure).
func tricklingSeed(t *testing.T, data []byte, pieceLen int64, slow func(piece int64) bool, rate int64, refused int32) *httptest.Server {
	t.Helper()
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) <= refused {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		start, end := int64(0), int64(len(data))-1
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &start, &end); err != nil || start > end || end >= int64(len(data)) {
			start, end = 0, int64(len(data))-1
		}
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(end-start+1))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		for i := start; i <= end; {
			n := pieceLen - i%pieceLen // the rest of the piece
			if slow(i / pieceLen) {
				n = rate / 10
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			n = min(n, pieceLen-i%pieceLen, end+1-i)
			if _, err := w.Write(data[i : i+n]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			i += n
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestSlowSeedLosesPiece: a web seed that sends a range at once but one
// piece of it just above the install's floor (1.2 KiB/s) held a download
// for that piece while the next seed could send it at once: 56.2 s for
// the 64 KiB piece of a 1 MiB archive (in the first case; as the round's
// last seed, trickling from the first byte, 56.4 s), over an hour for a
// 4 MiB piece. Now the next seed is asked for the piece too once the
// slow one held it past hedgeAfter (2 s at the seed's own earlier rate;
// 10 s with no rate known), wins it, and the slow seed is cut and named:
// 3.2 s and 11.4 s. The file is whole: the slow seed's partial piece is
// never written. A slow but honest seed with no other (20 KiB/s) still
// finishes, asked once. Bytes of the raced piece that both seeds gave
// count as sent again, and the sources say so.
func TestSlowSeedLosesPiece(t *testing.T) {
	const size, pieceLen, trickle = 1 << 20, 64 << 10, 1200
	for _, c := range []struct {
		name      string
		size      int
		slowFirst bool             // the slow seed is a mirror before the good one (else the torrent's own, after a mirror refused once)
		slow      func(int64) bool // the pieces the slow seed trickles
		rate      int64
		alone     bool // no other seed
		within    time.Duration
	}{
		{"burst, then one piece trickled, before a good seed", size, true, func(p int64) bool { return p == 3 }, trickle, false, 15 * time.Second},
		{"trickled from the first byte, the round's last seed", size, false, func(p int64) bool { return p == 0 }, trickle, false, 25 * time.Second},
		{"slow but honest, alone", 160 << 10, false, func(int64) bool { return true }, 20 << 10, true, 30 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
			data := writeRandom(t, path, c.size)
			slow := tricklingSeed(t, data, pieceLen, c.slow, c.rate, 0)
			var good *httptest.Server
			var own string
			var mirrors []string
			switch {
			case c.alone:
				own = MirrorSeed(slow.URL)
			case c.slowFirst:
				good = tricklingSeed(t, data, pieceLen, func(int64) bool { return false }, 0, 0)
				own, mirrors = MirrorSeed(good.URL), []string{MirrorSeed(slow.URL)}
			default:
				good = tricklingSeed(t, data, pieceLen, func(int64) bool { return false }, 0, 1)
				own, mirrors = MirrorSeed(slow.URL), []string{MirrorSeed(good.URL)}
			}
			meta, err := torrentmeta.Build(path, "", own)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			leecher, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 500 * time.Millisecond, MirrorWebSeeds: mirrors})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			var last atomic.Pointer[Progress]
			start := time.Now()
			err = leecher.Download(ctx, meta.Torrent, nil, func(p Progress) { last.Store(&p) })
			took := time.Since(start)
			var said string
			var seeds []SeedActivity
			if p := last.Load(); p != nil {
				seeds = p.Sources.WebSeeds
				said = p.Sources.Describe()
			}
			t.Logf("%v after %v: %s", err, took.Round(100*time.Millisecond), said)
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			got, err := os.ReadFile(filepath.Join(dir, "pkg-1.0.0.tar.zst"))
			if err != nil || string(got) != string(data) {
				t.Fatalf("downloaded file differs (%v)", err)
			}
			if took > c.within {
				t.Errorf("the download took %v, want under %v: the slow seed held its piece", took.Round(100*time.Millisecond), c.within)
			}
			for _, w := range seeds {
				if w.Seed != MirrorSeed(slow.URL) {
					continue
				}
				switch {
				case c.alone && (w.Asked != 1 || w.Failed != ""):
					t.Errorf("the only seed: %q, asked %d times; want it read to the end, asked once", w.describe(true), w.Asked)
				case !c.alone && !strings.Contains(w.Failed, "too slow: web seed "+good.URL+"/packages/pkg-1.0.0.tar.zst sent it in"):
					t.Errorf("the slow seed: %q; want it cut for the good seed", w.describe(true))
				}
			}
			// What the two seeds both gave of the raced piece counts as
			// sent again (no progress), and the words say where such
			// bytes come from: the race, not only a piece cut short.
			if !c.alone && strings.Contains(said, "of it again") && !strings.Contains(said, "asked of the next seed too") {
				t.Errorf("the sources count bytes of the raced piece as sent again, saying only that a piece cut short is asked again: %s", said)
			}
		})
	}
}

// TestHedgeAfter: the time a seed may hold a piece scales with the rate
// the seeds achieved, not with the piece's time at the install's floor
// (a 4 MiB piece at 1 KiB/s: 68 minutes).
func TestHedgeAfter(t *testing.T) {
	const kib, mib = 1 << 10, 1 << 20
	for _, c := range []struct {
		name     string
		piece    int64
		alt      float64
		altKnown bool
		best     float64
		want     time.Duration
	}{
		{"nothing known yet: a probe", 4 * mib, 0, false, 0, hedgeProbe},
		{"the holder's own earlier pieces fast", 4 * mib, 0, false, 10 * mib, 2 * time.Second},
		{"a 64 KiB piece at the best rate of 64 KiB/s", 64 * kib, 0, false, 64 * kib, 4 * time.Second},
		{"the best rate slow: the probe still", 4 * mib, 0, false, 20 * kib, hedgeProbe},
		{"the next seed known fast", 4 * mib, 8 * mib, true, 8 * mib, 2 * time.Second},
		{"the next seed known at 1 MiB/s", 4 * mib, mib, true, 8 * mib, 16 * time.Second},
		// Two seeds behind one slow link: the one asked lost its race,
		// and is asked again only past four times its piece time.
		{"the next seed known as slow as the link", 4 * mib, 20 * kib, true, 20 * kib, 819200 * time.Millisecond},
		{"the next seed sent nothing in its time", 4 * mib, 0, true, 8 * mib, maxHedgeWait},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := hedgeAfter(c.piece, c.alt, c.altKnown, c.best); got != c.want {
				t.Errorf("hedgeAfter(%d, %.0f, %v, %.0f) = %v, want %v", c.piece, c.alt, c.altKnown, c.best, got, c.want)
			}
		})
	}
}

// TestSlowSeedHeldSaidWhole: a slow seed beaten to its piece in a second
// race (the first seed asked for it failed: a 503) is said to have held
// the piece since it started on it, not since the first race ended: it
// said "held it for 2.0s" of a piece it had held 4 s.
func TestSlowSeedHeldSaidWhole(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const size, pieceLen = 1 << 20, 64 << 10
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, size)
	fast := func(int64) bool { return false }
	slow := tricklingSeed(t, data, pieceLen, func(p int64) bool { return p == 3 }, 1200, 0)
	refusing := tricklingSeed(t, data, pieceLen, fast, 0, 1) // its hedge fails
	good := tricklingSeed(t, data, pieceLen, fast, 0, 0)
	meta, err := torrentmeta.Build(path, "", MirrorSeed(good.URL))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	leecher, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 500 * time.Millisecond,
		MirrorWebSeeds: []string{MirrorSeed(slow.URL), MirrorSeed(refusing.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var last atomic.Pointer[Progress]
	start := time.Now()
	if err := leecher.Download(ctx, meta.Torrent, nil, func(p Progress) { last.Store(&p) }); err != nil {
		t.Fatalf("download: %v", err)
	}
	p := last.Load()
	if p == nil {
		t.Fatal("no progress")
	}
	t.Logf("after %v: %s", time.Since(start).Round(100*time.Millisecond), p.Sources.Describe())
	var failed string
	for _, w := range p.Sources.WebSeeds {
		if w.Seed == MirrorSeed(slow.URL) {
			failed = w.Failed
		}
	}
	m := regexp.MustCompile(`too slow: web seed \S+ sent it in \S+ while this one held it for (\S+)$`).FindStringSubmatch(failed)
	if m == nil {
		t.Fatalf("the slow seed: %q; want it cut for another seed", failed)
	}
	held, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// Two waits of hedgeMin at least: the first race's, then the second's
	// from the first one's end.
	if held < 2*hedgeMin-100*time.Millisecond {
		t.Errorf("the slow seed is said to have held piece 3 for %v, want from when it started on it (2 × %v at least)", held, hedgeMin)
	}
}

// TestHedgePick: the seed asked for a held piece is the first, from the
// next one on, that is not the holder, has not failed a hedge, is ready,
// and would be waited for under maxHedgeWait: one that answered and sent
// nothing (a known rate of 0) is passed over for the good seed after it,
// which before was never asked.
func TestHedgePick(t *testing.T) {
	const piece = 64 << 10
	rates := map[string]float64{"good": 1 << 20, "mute": 0}
	known := map[string]bool{"good": true, "mute": true}
	rateOf := func(s string) (float64, bool, float64) { return rates[s], known[s], 1 << 20 }
	ready := func(s string) bool { return s != "busy" }
	for _, c := range []struct {
		name   string
		seeds  []string
		next   int
		failed []string
		want   string
	}{
		{"the next seed", []string{"slow", "good", "other"}, 1, nil, "good"},
		{"a mute seed passed over", []string{"slow", "mute", "good"}, 1, nil, "good"},
		{"not the holder", []string{"slow", "good"}, 0, nil, "good"},
		{"not one whose hedge failed", []string{"slow", "good", "other"}, 1, []string{"good"}, "other"},
		{"not one waiting out a Retry-After", []string{"slow", "busy", "good"}, 1, nil, "good"},
		{"none but mute ones", []string{"slow", "mute"}, 1, nil, ""},
	} {
		h := &hedger{failed: c.failed}
		got, after := h.pick(c.seeds, c.next, "slow", piece, ready, rateOf)
		if got != c.want || (got != "" && after >= maxHedgeWait) {
			t.Errorf("%s: pick = %q after %v, want %q", c.name, got, after, c.want)
		}
	}
}
