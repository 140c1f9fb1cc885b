package install

// Where an install's archives come from: the running daemon, or an engine
// of this process when none answers (the fetcher); fetch.go drives them.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/procs"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// A fetcher gets archives into the cache: the running daemon's engine (so
// that what is installed keeps being seeded), or an engine of this
// process. It calls progress with the bytes done over all rows and the
// peers, grew with an archive's complete prefix (the bytes from its start
// in verified pieces; not necessarily at every change, and maybe the
// same again), and
// finished as each archive is complete, with where its bytes came from.
type fetcher interface {
	// fetch downloads rows; keep are the plan's packages taken from the
	// cache, which a daemon holds out of its cache trim meanwhile.
	// progress is called on one goroutine at a time.
	fetch(ctx context.Context, rows, keep []catalog.Package, ev fetchEvents) error
	close()
	via() string // for the progress line: "" or " through dist-client daemon"
}

// quietProgressEvery is how often an install that draws no progress bar
// asks the daemon for progress: its stall watchdog (--stall-timeout, 2
// minutes by default) needs no more. A stall timeout under 8 s asks for a
// quarter of it, at least the daemon's 200 ms, so that progress is seen
// well within it.
const quietProgressEvery = 2 * time.Second

// quietProgress is the progress period an install without a bar asks for.
func quietProgress(stall time.Duration) time.Duration {
	if stall <= 0 {
		return quietProgressEvery
	}
	return min(quietProgressEvery, max(stall/4, 200*time.Millisecond))
}

// openFetcher picks the daemon when one answers, else starts an engine.
func (c *Client) openFetcher(ctx context.Context) (fetcher, error) {
	if c.source != nil {
		return c.source, nil
	}
	if d := daemon.Dial(ctx, c.Paths.DaemonSocket()); d != nil {
		// The transfer itself is logged in the daemon's log.
		c.logger().Debug("downloading through the daemon", "socket", c.Paths.DaemonSocket())
		var every time.Duration // the daemon's default, for the bar
		if !c.UI.DrawsProgress() {
			every = quietProgress(c.StallTimeout)
		}
		return daemonFetcher{d, every}, nil
	}
	c.logger().Debug("no daemon answers; downloading with an engine of this process", "socket", c.Paths.DaemonSocket(), "peer_addr", c.Config.PeerAddr)
	// An engine of this process downloads on every core, as the daemon's
	// may (a fast peer on the LAN).
	release := procs.Parallel()
	engine, err := swarm.New(daemon.EngineConfig(c.Config, c.Paths.Cache(), c.Paths.Dir, c.logger()))
	if err != nil {
		release()
		// The daemon holds peer_addr when it runs: one that did not
		// answer (out of descriptors, stopped with SIGSTOP) is named,
		// not "another program".
		if errors.Is(err, syscall.EADDRINUSE) {
			if pid := daemon.Holder(c.Paths.DaemonSocket()); pid > 0 {
				return nil, fmt.Errorf("dist-client daemon (pid %d) is running but did not answer on %s, and holds peer_addr %s (see its log; try again, or stop it)",
					pid, c.Paths.DaemonSocket(), c.Config.PeerAddr)
			}
		}
		return nil, config.InUse("peer_addr", true, err)
	}
	return engineFetcher{engine, release}, nil
}

// fetchEvents are what a fetcher reports as it goes (fetcher).
type fetchEvents struct {
	progress func(done int64, peers int)
	grew     func(r catalog.Package, prefix int64)
	finished func(catalog.Package, swarm.Transfer)
}

// holdCached asks a running daemon to hold the archives of a plan taken
// wholly from the cache out of its cache trim (cache_max_size) while they
// are extracted: a request that names them to keep and nothing to download
// (the daemon holds a request's archives for a while after it ends). With
// archives to download, the download request carries them (fetch's keep).
// Best effort: no daemon, or one older than the request, holds nothing,
// and an archive trimmed meanwhile is downloaded again.
func (c *Client) holdCached(ctx context.Context, cached []catalog.Package) {
	if c.source != nil || len(cached) == 0 {
		return
	}
	d := daemon.Dial(ctx, c.Paths.DaemonSocket())
	if d == nil {
		return
	}
	req := daemon.Request{Keep: make([]daemon.Item, len(cached))}
	for i, r := range cached {
		req.Keep[i] = daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash}
	}
	if err := d.Download(ctx, req, 0, nil); err != nil {
		c.logger().Debug("the daemon did not hold the cached archives", "err", err)
	}
}

// engineFetcher downloads with an engine of this process, on every core
// until it is closed (release).
type engineFetcher struct {
	engine  *swarm.Engine
	release func()
}

func (f engineFetcher) via() string { return "" }

func (f engineFetcher) close() {
	f.engine.Close()
	f.release()
}

func (f engineFetcher) fetch(ctx context.Context, rows, _ []catalog.Package, ev fetchEvents) error {
	var mu sync.Mutex
	done := make([]int64, len(rows))
	peers := make([]int, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range rows {
		g.Go(func() error {
			err := f.engine.Download(gctx, r.Torrent, torrentmeta.Seeders(r.Magnet), func(pr swarm.Progress) {
				mu.Lock()
				done[i], peers[i] = pr.Done, max(peers[i], pr.Peers)
				var sum int64
				most := 0
				for j, d := range done {
					sum += d
					most = max(most, peers[j])
				}
				// Under mu: the caller's callback runs on one goroutine at
				// a time, as the daemon's does, and sees sums in order.
				ev.progress(sum, most)
				ev.grew(r, pr.Prefix)
				mu.Unlock()
			})
			if err != nil {
				return &daemon.ArchiveError{Archive: r.Archive, Err: fmt.Errorf("download %s: %w", r.Archive, err)}
			}
			t, _ := f.engine.Transfer(mustInfoHash(r))
			ev.finished(r, t)
			return nil
		})
	}
	return g.Wait()
}

func mustInfoHash(r catalog.Package) swarm.InfoHash {
	ih, _ := swarm.ParseInfoHash(r.InfoHash) // the catalog's rows are checked at sync
	return ih
}

// daemonFetcher has the running daemon download, naming the packages by
// name@version and infohash: the one place that speaks its request format.
type daemonFetcher struct {
	d     *daemon.Client
	every time.Duration // progress events asked for; 0: the daemon's default
}

func (f daemonFetcher) via() string { return " through dist-client daemon" }
func (f daemonFetcher) close()      {}

func (f daemonFetcher) fetch(ctx context.Context, rows, keep []catalog.Package, fe fetchEvents) error {
	req := daemon.Request{Items: make([]daemon.Item, len(rows))}
	byArchive := make(map[string]catalog.Package, len(rows))
	for i, r := range rows {
		req.Items[i] = daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash}
		byArchive[r.Archive] = r
	}
	for _, r := range keep {
		req.Keep = append(req.Keep, daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash})
	}
	return f.d.Download(ctx, req, f.every, func(ev daemon.Event) {
		fe.progress(ev.Bytes, ev.Peers)
		for a, n := range ev.Prefix {
			if r, ok := byArchive[a]; ok {
				fe.grew(r, n)
			}
		}
		if ev.Completed != nil {
			if r, ok := byArchive[ev.Completed.Archive]; ok {
				fe.finished(r, ev.Completed.Transfer)
			}
		}
	})
}
