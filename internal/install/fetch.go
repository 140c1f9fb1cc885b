package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/stall"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// fetching is the download of a plan's archives under way while the plan
// is staged: staging takes each archive on its own, in plan order,
// unpacking it as it arrives (arriving.go) and running its script once it
// is complete, while the others keep downloading.
type fetching struct {
	c      *Client
	src    fetcher
	cancel context.CancelFunc
	done   chan struct{} // closed when every download has ended

	stopOnce sync.Once

	mu      sync.Mutex
	pending map[string]bool // the archives still downloading; guarded by mu
	err     error           // the first failure; guarded by mu
	report  Report          // guarded by mu
	// prefix is, by archive still downloading, its complete prefix
	// (fetcher); changed is closed and replaced whenever one grows, an
	// archive completes or the fetch fails (waitFor and arriving wait on
	// it).
	prefix    map[string]int64 // guarded by mu
	changed   chan struct{}    // guarded by mu
	streaming atomic.Bool      // an archive is being unpacked as it arrives
	started   time.Time
	// firstDone is the bytes the partial downloads held at the start,
	// lastDone those the last progress report counted (-1 before one):
	// what arrived in between is what an interrupted fetch received,
	// which the report of whole archives lacks; guarded by mu.
	firstDone, lastDone int64
}

// startFetch starts downloading every archive of items not in the cache.
// The caller must call stop.
func (c *Client) startFetch(ctx context.Context, items []item) (*fetching, error) {
	f := &fetching{c: c, done: make(chan struct{}), pending: map[string]bool{}, prefix: map[string]int64{}, changed: make(chan struct{}), started: time.Now(),
		firstDone: -1, lastDone: -1}
	var need, cached []catalog.Package
	var total int64
	for _, it := range items {
		inCache := c.cached(it.row)
		c.logger().Debug("plan", "package", it.row.Name, "version", it.row.Version, "archive", it.row.Archive,
			"size", it.row.Size, "info_hash", it.row.InfoHash, "cached", inCache)
		if inCache {
			f.report.add(ArchiveReport{Archive: it.row.Archive, Cached: true, Transfer: swarm.Transfer{Total: it.row.Size}})
			cached = append(cached, it.row)
			continue
		}
		if f.pending[it.row.Archive] {
			continue
		}
		f.pending[it.row.Archive] = true
		need = append(need, it.row)
		total += it.row.Size
	}
	if len(need) == 0 {
		c.holdCached(ctx, cached)
		close(f.done)
		lessGC()
		return f, nil
	}
	src, err := c.openFetcher(ctx)
	if err != nil {
		return nil, err
	}
	f.src = src
	ctx, f.cancel = context.WithCancel(ctx)
	dropUnverified(c.Paths.Cache(), need)
	// What the partial downloads hold already (verified pieces: a download
	// dropped incomplete keeps no others, swarm's partholes) is where an
	// interrupted fetch's count starts: from the first progress report it
	// left out what came before it (history said 7.2 MiB where the next
	// plan kept 8.0: a newcomer's run).
	f.firstDone = 0
	for _, r := range need {
		f.firstDone += partBytes(cache.PartName(filepath.Join(c.Paths.Cache(), r.Archive)))
	}
	c.UI.Printf("downloading %s%s\n", ui.Count(len(need), "archive"), src.via())
	bar := c.UI.NewProgress(total, ui.Count(len(need), "package"))
	stallAfter := c.StallTimeout
	if stallAfter <= 0 {
		stallAfter = 2 * time.Minute
	}
	w := stall.New(ctx, stallAfter, fmt.Errorf("no data received for %s from any peer or web seed", stallAfter))
	var largest int64
	for _, r := range need {
		largest = max(largest, r.InstalledSize)
	}
	go func() {
		defer close(f.done)
		defer w.Stop()
		peers := 0
		warmed := false
		err := src.fetch(w.Context(), need, cached, fetchEvents{progress: func(done int64, n int) {
			f.mu.Lock()
			f.lastDone = max(f.lastDone, done)
			f.mu.Unlock()
			w.Progress(done)
			bar.Set(done)
			peers = max(peers, n)
			// Half-way, the download has time left to ready the
			// decoder in; at the start, every install of a swarm would
			// take the cores the first pieces need. Not when the first
			// event seen is the end: extraction starts then, and would
			// only wait for it. Not when an archive is being unpacked as
			// it arrives: that extraction made its decoder long before.
			if !warmed && 2*done >= total && done < total && !f.streaming.Load() {
				warmed = true
				go stage.Warm(largest)
			}
		}, grew: f.grew, finished: func(r catalog.Package, t swarm.Transfer) {
			c.logger().Debug("downloaded", t.LogArgs(r.Archive)...)
			f.mu.Lock()
			f.report.add(ArchiveReport{Archive: r.Archive, Transfer: t})
			delete(f.pending, r.Archive)
			delete(f.prefix, r.Archive)
			f.wake()
			f.mu.Unlock()
		}})
		if err != nil {
			bar.Abort()
			f.fail(w.Explain(err))
			return
		}
		f.mu.Lock()
		f.report.Elapsed = time.Since(f.started)
		rep := f.report
		f.mu.Unlock()
		bar.Done()
		c.printReport(rep)
	}()
	return f, nil
}

// fail records the first failure and wakes every waiter.
func (f *fetching) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	clear(f.pending)
	f.wake()
}

// wait returns once the archive is in the cache, or the fetch failed.
func (f *fetching) wait(ctx context.Context, archive string) error {
	return f.waitFor(ctx, archive, false)
}

// waitFor returns once the archive is in the cache, or part of it from its
// start is when started is set, or the fetch failed.
func (f *fetching) waitFor(ctx context.Context, archive string, started bool) error {
	for {
		prefix, complete, changed, err := f.arrival(archive)
		switch {
		case err != nil:
			return err
		case complete, started && prefix > 0:
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// again downloads one archive again (its cached copy failed its SHA-256),
// through the same source.
func (f *fetching) again(ctx context.Context, row catalog.Package) error {
	if err := f.finish(); err != nil {
		return err
	}
	if f.src == nil {
		src, err := f.c.openFetcher(ctx)
		if err != nil {
			return err
		}
		f.src = src
	}
	return f.src.fetch(ctx, []catalog.Package{row}, nil, fetchEvents{
		progress: func(int64, int) {}, grew: func(catalog.Package, int64) {}, finished: func(catalog.Package, swarm.Transfer) {},
	})
}

// finish waits for every download to end and returns the first failure.
func (f *fetching) finish() error {
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// stop cancels what is still downloading and closes the source.
func (f *fetching) stop() {
	f.stopOnce.Do(func() {
		if f.cancel != nil {
			f.cancel()
		}
		<-f.done
		if f.src != nil {
			f.src.close()
		}
	})
}

// partial reports whether an archive was left partly downloaded.
func (f *fetching) partial() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending) > 0 || f.err != nil
}

// reportCopy is the transfer report once every download ended.
func (f *fetching) reportCopy() *Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.report
	r.Archives = append([]ArchiveReport(nil), r.Archives...)
	return &r
}

// downloadedBytes is what this command moved into the cache.
func (f *fetching) downloadedBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	// An interrupted fetch's archives are not in the report; what the
	// progress grew by since its first report is (the history showed 0 B
	// for an install stopped with 13.9 MiB received).
	return max(f.report.Downloaded(), f.lastDone-f.firstDone)
}

// Report is a command's transfer report: where every archive it needed
// came from. It is printed after the downloads (one line; a table with -v),
// returned by install --json and kept in the history entry.
type Report struct {
	Archives []ArchiveReport `json:"archives"`
	// Elapsed is the time from the first request to the last archive.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// ArchiveReport is one archive's part of a Report.
type ArchiveReport struct {
	Archive string `json:"archive"`
	// Cached: the archive was in the local cache; nothing was downloaded.
	Cached bool `json:"cached"`
	swarm.Transfer
}

func (r *Report) add(a ArchiveReport) { r.Archives = append(r.Archives, a) }

// Totals sums the archives' reports.
func (r Report) Totals() (t swarm.Transfer, cached int, cachedBytes int64) {
	t.FirstByte = -1
	web, lastResort := 0, 0 // archives with bytes over HTTP, and of them as a last resort
	for _, a := range r.Archives {
		if a.Cached {
			cached++
			cachedBytes += a.Total
			continue
		}
		t.Total += a.Total
		t.FromSeeder += a.FromSeeder
		t.FromPeers += a.FromPeers
		t.Peers = max(t.Peers, a.Peers)
		t.FromWebSeed += a.FromWebSeed
		if a.FromWebSeed > 0 {
			web++
			if a.WebSeedLastResort {
				lastResort++
			}
		}
		for _, h := range a.WebSeeds {
			if !slices.Contains(t.WebSeeds, h) {
				t.WebSeeds = append(t.WebSeeds, h)
			}
		}
		t.AlreadyHad += a.AlreadyHad
		t.Wasted += a.Wasted
		t.HashFailures += a.HashFailures
		if a.FirstByte > 0 && (t.FirstByte < 0 || a.FirstByte < t.FirstByte) {
			t.FirstByte = a.FirstByte
		}
	}
	t.FirstByte = max(t.FirstByte, 0)
	t.WebSeedLastResort = web > 0 && lastResort == web // the report names them so only if all were
	slices.Sort(t.WebSeeds)
	t.Elapsed = r.Elapsed
	return t, cached, cachedBytes
}

// Downloaded is the payload that came over the network.
func (r Report) Downloaded() int64 {
	t, _, _ := r.Totals()
	return t.FromSeeder + t.FromPeers + t.FromWebSeed
}

// cached reports whether the cache holds a complete archive. Its SHA-256 is
// checked in the same read that extracts it (stage.Extract), so a cached
// archive costs one read, not two; one that fails is dropped and fetched
// again.
func (c *Client) cached(row catalog.Package) bool {
	fi, err := os.Stat(filepath.Join(c.Paths.Cache(), row.Archive))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == row.Size
}

// dropUnverified removes cached copies of rows that do not match the
// catalog (the library would trust a damaged full-size file).
func dropUnverified(dir string, rows []catalog.Package) {
	for _, r := range rows {
		path := filepath.Join(dir, r.Archive)
		if err := r.VerifyFile(path); err != nil {
			os.Remove(path)
		}
	}
}

// lessGC lets the collector run less often for the rest of a command that
// has nothing to download: what is left is file work (extract, scripts,
// hashing, recording) that makes many short-lived buffers over a small
// live heap, with no engine in the process. Installing 10,000 files of
// 1 KiB from the cache: 0.28 -> 0.26 s at GOGC=400 (tmpfs, median of 5).
// With an engine the default stays: its heap is larger, and 250 small
// downloads peaked at 114 MiB at GOGC=400 against 66 MiB. GOGC in the
// environment wins.
func lessGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
