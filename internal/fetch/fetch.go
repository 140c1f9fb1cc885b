// Package fetch gets a plan's archives into the client's cache while the
// plan is staged: through the running daemon, or an engine of this
// process when none answers (source.go), with the archives the cache holds
// already left as they are. It tells the stager when each archive, or its
// complete prefix, is there (arriving.go: an archive is unpacked as it
// arrives), and prints and returns where every archive came from
// (report.go). It knows nothing of what is installed: internal/install
// drives it (deptest holds that).
package fetch

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/distpac/distpac/internal/cache"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/stage"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// Options are what a fetch needs of the client it runs for.
type Options struct {
	Paths  paths.Client
	Config *config.Client
	UI     *ui.Printer
	Logger *slog.Logger // nil: discarded
	// StallTimeout ends the fetch when its sources send less than
	// stallFloor (1 KiB/s) over this long (0: 2 minutes).
	StallTimeout time.Duration
	// ConfigFile is the client.yaml in force ("", or a file that does not
	// exist: none), which a daemon that started before it last changed
	// does not follow (staleDaemon).
	ConfigFile string
	// Source, set by tests, replaces the daemon or engine downloads come
	// from.
	Source Source
	// beforeEngine, set by tests, runs just before an engine of this
	// process is started (engineOrDaemon).
	beforeEngine func()
	// silence, set by tests, replaces silenceWarnAfter.
	silence time.Duration
}

// logger is the Logger, or one that discards when there is none.
func (o *Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// Fetch is the download of a plan's archives under way while the plan
// is staged: staging takes each archive on its own, in plan order,
// unpacking it as it arrives (arriving.go) and running its script once it
// is complete, while the others keep downloading.
type Fetch struct {
	o      *Options
	src    Source
	cancel context.CancelFunc
	done   chan struct{} // closed when every download has ended

	stopOnce sync.Once

	mu      sync.Mutex
	pending map[string]bool // the archives still downloading; guarded by mu
	err     error           // the first failure; guarded by mu
	report  Report          // guarded by mu
	// prefix is, by archive still downloading, its complete prefix
	// (Source); changed is closed and replaced whenever one grows, an
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
	need                []catalog.Package // the archives this fetch downloads
	busySaid            map[string]bool   // the busy web seeds said (busy); guarded by mu
	// stopped is, by archive, what a download that ended incomplete had
	// received (Events.Stopped); guarded by mu.
	stopped map[string]swarm.Transfer
	stall   swarm.StallWindow // guarded by mu
	// startPart is, by archive, what its partial download held at the
	// start (PartBytes), and handovers how many times a daemon left the
	// fetch to another source (handover.go): what a later source found
	// verified beyond startPart is what the daemon that left had
	// verified (handedOver); guarded by mu.
	startPart map[string]int64
	handovers int
	// heard is when the source last reported (every progress event;
	// daemonSilent); daemonPID the daemon it downloads through (0: none, or
	// a handover under way), and silent whether its silence was warned of
	// (watchSilence); guarded by mu.
	heard     time.Time
	daemonPID int
	silent    bool
}

// busy says, once per seed, that a download waits for a web seed that
// answered busy: the install was silent until the stall timeout, two
// minutes, while a server answered 503 with Retry-After to every request.
func (f *Fetch) busy(b swarm.BusySeed) {
	f.mu.Lock()
	said := f.busySaid[b.Seed]
	if f.busySaid == nil {
		f.busySaid = map[string]bool{}
	}
	f.busySaid[b.Seed] = true
	f.mu.Unlock()
	if !said {
		f.o.UI.Warnf("web seed %s is busy: it answered %s; no peer sends the archive, so distpac waits for that server (at most %s)\n", b.Seed, b.Said, b.For.Round(time.Second))
	}
}

// Start starts downloading every archive of rows (a plan's, in its order)
// not in the cache. The caller must call Stop.
func Start(ctx context.Context, opts Options, rows []catalog.Package) (*Fetch, error) {
	o := &opts
	f := &Fetch{o: o, done: make(chan struct{}), pending: map[string]bool{}, prefix: map[string]int64{}, changed: make(chan struct{}), started: time.Now(),
		firstDone: -1, lastDone: -1, startPart: map[string]int64{}, heard: time.Now()}
	var need, cached []catalog.Package
	var total int64
	for _, row := range rows {
		inCache := Cached(o.Paths.Cache(), row)
		o.logger().Debug("plan", "package", row.Name, "version", row.Version, "archive", row.Archive,
			"size", row.Size, "info_hash", row.InfoHash, "cached", inCache)
		if inCache {
			f.report.add(ArchiveReport{Archive: row.Archive, Cached: true, Transfer: swarm.Transfer{Total: row.Size}})
			cached = append(cached, row)
			continue
		}
		if f.pending[row.Archive] {
			continue
		}
		f.pending[row.Archive] = true
		need = append(need, row)
		total += row.Size
	}
	if len(need) == 0 {
		o.holdCached(ctx, cached)
		close(f.done)
		lessGC()
		return f, nil
	}
	f.need = need
	dropUnverified(o.Paths.Cache(), need)
	// What the partial downloads hold already (verified pieces: a download
	// dropped incomplete keeps no others, swarm's partholes) is where an
	// interrupted fetch's count starts: from the first progress report it
	// left out what came before it (history said 7.2 MiB where the next
	// plan kept 8.0: a newcomer's run).
	f.firstDone = 0
	for _, r := range need {
		n := PartBytes(o.Paths.Cache(), r)
		f.firstDone += n
		f.startPart[r.Archive] = n
	}
	src, err := o.openSource(ctx)
	if err != nil && ctx.Err() != nil {
		// Interrupted before any download started: a fetch that
		// stopped, as one interrupted later (stoppedBeforeStart).
		f.stoppedBeforeStart(err)
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	f.src = src
	ctx, f.cancel = context.WithCancel(ctx)
	o.UI.Printf("downloading %s%s\n", ui.Count(len(need), "archive"), src.Via())
	if d, ok := src.(daemonSource); ok {
		f.daemonPID = d.d.PID() // before the fetch's goroutines start
		go f.watchSilence(ctx, cmp.Or(o.silence, silenceWarnAfter))
	}
	bar := o.UI.NewProgress(total, ui.Count(len(need), "package"))
	w, stallAfter, stallRate := o.newStallWatch(ctx)
	var largest int64
	for _, r := range need {
		largest = max(largest, r.InstalledSize)
	}
	go func() {
		defer close(f.done)
		defer w.Stop()
		peers := 0
		warmed := false
		ev := Events{Progress: func(done int64, n int) {
			f.mu.Lock()
			again := f.heardAgain(time.Now())
			f.lastDone = max(f.lastDone, done)
			f.stall.Progress(w, done)
			f.mu.Unlock()
			if again != "" {
				o.UI.Printf("%s", again)
			}
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
		}, Sources: func(s swarm.Sources) {
			f.mu.Lock()
			f.stall.Sources(s)
			f.mu.Unlock()
		}, Grew: f.grew, Busy: f.busy, Stopped: f.stoppedAt, Finished: func(r catalog.Package, t swarm.Transfer) {
			o.logger().Debug("downloaded", t.LogArgs(r.Archive)...)
			f.mu.Lock()
			f.report.add(ArchiveReport{Archive: r.Archive, Transfer: t, HandedOver: f.handedOver(r, t)})
			delete(f.pending, r.Archive)
			delete(f.prefix, r.Archive)
			f.wake()
			f.mu.Unlock()
		}}
		err := f.carryOn(w.Context(), src.Fetch(w.Context(), need, cached, ev), cached, ev)
		if err != nil {
			bar.Abort()
			f.addIncomplete()
			if err = w.Explain(err); errors.Is(err, errStalled) {
				f.mu.Lock()
				err = f.stalled(f.stallError(stallAfter, stallRate))
				f.mu.Unlock()
			}
			f.fail(err)
			return
		}
		f.mu.Lock()
		f.report.Elapsed = time.Since(f.started)
		rep := f.report
		f.mu.Unlock()
		bar.Done()
		o.printReport(rep)
	}()
	return f, nil
}

// fail records the first failure and wakes every waiter.
func (f *Fetch) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
	clear(f.pending)
	f.wake()
}

// Wait returns once the archive is in the cache, or the fetch failed.
func (f *Fetch) Wait(ctx context.Context, archive string) error {
	return f.waitFor(ctx, archive, false)
}

// waitFor returns once the archive is in the cache, or part of it from its
// start is when started is set, or the fetch failed.
func (f *Fetch) waitFor(ctx context.Context, archive string, started bool) error {
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

// Again downloads one archive again (its cached copy failed its SHA-256),
// through the same source.
func (f *Fetch) Again(ctx context.Context, row catalog.Package) error {
	if err := f.Finish(); err != nil {
		return err
	}
	if f.src == nil {
		src, err := f.o.openSource(ctx)
		if err != nil {
			return err
		}
		f.src = src
	}
	return f.src.Fetch(ctx, []catalog.Package{row}, nil, Events{
		Progress: func(int64, int) {}, Grew: func(catalog.Package, int64) {}, Finished: func(catalog.Package, swarm.Transfer) {},
	})
}

// Finish waits for every download to end and returns the first failure.
func (f *Fetch) Finish() error {
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Stop cancels what is still downloading and closes the source.
func (f *Fetch) Stop() {
	f.stopOnce.Do(func() {
		if f.cancel != nil {
			f.cancel()
		}
		<-f.done
		if f.src != nil {
			f.src.Close()
		}
	})
}

// Done is closed when every download has ended.
func (f *Fetch) Done() <-chan struct{} { return f.done }

// Cached reports whether the cache dir holds a complete archive. Its SHA-256 is
// checked in the same read that extracts it (stage.Extract), so a cached
// archive costs one read, not two; one that fails is dropped and fetched
// again.
func Cached(dir string, row catalog.Package) bool {
	fi, err := os.Stat(filepath.Join(dir, row.Archive))
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

// PartBytes is how much of row's partial download in the cache dir is
// already on disk (its .part file's allocated blocks: the file is written
// at piece offsets, so its length says little); it stays resumable.
func PartBytes(dir string, row catalog.Package) int64 {
	fi, err := os.Stat(cache.PartName(filepath.Join(dir, row.Archive)))
	if err != nil {
		return 0
	}
	return min(fsutil.AllocatedOf(fi), fi.Size())
}

// KeptBytes is PartBytes, at most row's size: what the plan counts "kept
// from an interrupted download", and a failed fetch says it kept (Kept).
func KeptBytes(dir string, row catalog.Package) int64 {
	return min(PartBytes(dir, row), row.Size)
}
