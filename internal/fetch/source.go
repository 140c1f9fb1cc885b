package fetch

// Where an install's archives come from: the running daemon, or an engine
// of this process when none answers (the Source); fetch.go drives them.

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// A Source gets archives into the cache: the running daemon's engine (so
// that what is installed keeps being seeded), or an engine of this
// process. It calls progress with the bytes done over all rows and the
// peers, grew with an archive's complete prefix (the bytes from its start
// in verified pieces; not necessarily at every change, and maybe the
// same again), and
// finished as each archive is complete, with where its bytes came from.
type Source interface {
	// Fetch downloads rows; keep are the plan's packages taken from the
	// cache, which a daemon holds out of its cache trim meanwhile.
	// Progress is called on one goroutine at a time.
	Fetch(ctx context.Context, rows, keep []catalog.Package, ev Events) error
	Close()
	Via() string // for the progress line: "" or " through dist-client daemon"
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

// openSource picks the daemon when one answers, else starts an engine.
func (o *Options) openSource(ctx context.Context) (Source, error) {
	if o.Source != nil {
		return o.Source, nil
	}
	if d := daemon.Dial(ctx, o.Paths.DaemonSocket()); d != nil {
		// The transfer itself is logged in the daemon's log.
		o.logger().Debug("downloading through the daemon", "socket", o.Paths.DaemonSocket(), "pid", d.PID())
		o.staleDaemon(d)
		return o.through(d), nil
	}
	if err := ctx.Err(); err != nil {
		// Interrupted while the daemon was asked (Dial fails with the
		// context): an engine of this process would be started for
		// nothing, and its bind on the daemon's peer_addr failed, naming
		// the daemon as not answering or the address as another
		// program's.
		return nil, err
	}
	o.logger().Debug("no daemon answers; downloading with an engine of this process", "socket", o.Paths.DaemonSocket(), "peer_addr", o.Config.PeerAddr)
	return o.engineOrDaemon(ctx, 0)
}

// engineOrDaemon starts an engine of this process to download with,
// unless a daemon of this data home, other than the one of pid old that
// left this fetch (0: none), holds the socket's lock without answering
// yet: one starting (it binds peer_addr before it answers), or one that
// waited for peer_addr while an install held it (internal/daemon's
// startEngine), which starts once peer_addr is free. That one is waited
// for, at most restartWait (once: before the engine starts, or when the
// engine finds peer_addr taken by a daemon that took it meanwhile), and
// downloads instead when it answers. Whoever binds peer_addr second hands
// over rather than fails: the install failed on "address already in use"
// beside a daemon back a moment after its wait for one (a restart more
// than 3 s after a stop, a kill -9 and a restart before the install's
// engine started); a daemon second waits for the install (internal/daemon).
func (o *Options) engineOrDaemon(ctx context.Context, old int) (Source, error) {
	waited := false
	waitDaemon := func() (Source, error) {
		sock := o.Paths.DaemonSocket()
		if waited || !daemon.Locked(sock) || old != 0 && daemon.Holder(sock) == old {
			return nil, nil
		}
		waited = true
		d, err := o.waitAnswer(ctx, old, true, time.Now())
		if d == nil {
			return nil, err
		}
		return o.through(d), nil
	}
	if src, err := waitDaemon(); src != nil || err != nil {
		return src, err
	}
	if o.beforeEngine != nil {
		o.beforeEngine()
	}
	src, err := o.startEngine()
	if errors.Is(err, syscall.EADDRINUSE) {
		if d, derr := waitDaemon(); d != nil || derr != nil {
			return d, derr
		}
	}
	if err != nil {
		return nil, o.engineError(err)
	}
	return src, nil
}

// staleDaemon warns when the daemon d answers for started before the
// client.yaml in force last changed: a daemon reads it once, at its
// start, and downloads with those settings (server_urls, rate limits,
// peer_addr), so an install after an edit went to a server the file no
// longer named, failing with "no source" while the mirror it now named
// was up (a newcomer's run). As systemctl says a unit file changed on
// disk, the install says so and goes on through the daemon.
func (o *Options) staleDaemon(d *daemon.Client) {
	if o.ConfigFile == "" || d.Started().IsZero() {
		return
	}
	fi, err := os.Stat(o.ConfigFile)
	if err != nil || !fi.ModTime().After(d.Started()) {
		return
	}
	o.UI.Warnf("%s changed at %s, after dist-client daemon (pid %d) started at %s: the daemon downloads with the settings it read then: restart the daemon to use the new ones\n",
		o.ConfigFile, fi.ModTime().Format("15:04:05"), d.PID(), d.Started().Local().Format("15:04:05"))
}

// through is the Source of the daemon d answers for.
func (o *Options) through(d *daemon.Client) daemonSource {
	var every time.Duration // the daemon's default, for the bar
	if !o.UI.DrawsProgress() {
		every = quietProgress(o.StallTimeout)
	}
	return daemonSource{d, every}
}

// startEngine starts an engine of this process to download with
// (engineOrDaemon, which says why it failed: engineError).
func (o *Options) startEngine() (Source, error) {
	// An engine of this process downloads on every core, as the daemon's
	// may (a fast peer on the LAN).
	release := procs.Parallel()
	engine, err := swarm.New(daemon.EngineConfig(o.Config, o.Paths.Cache(), o.Paths.Dir, o.logger()))
	if err != nil {
		release()
		return nil, err
	}
	return engineSource{engine, release}, nil
}

// engineError is why an engine of this process did not start (err).
func (o *Options) engineError(err error) error {
	// The daemon holds peer_addr when it runs: one that did not answer
	// (out of descriptors, stopped with SIGSTOP) is named, not "another
	// program".
	if errors.Is(err, syscall.EADDRINUSE) {
		if pid := daemon.Holder(o.Paths.DaemonSocket()); pid > 0 {
			return fmt.Errorf("dist-client daemon (pid %d) is running but did not answer on %s, and holds peer_addr %s (see its log; try again, or stop it)",
				pid, o.Paths.DaemonSocket(), o.Config.PeerAddr)
		}
	}
	return config.InUse("peer_addr", true, err)
}

// Events are what a Source reports as it goes (Source).
type Events struct {
	Progress func(done int64, peers int)
	Grew     func(r catalog.Package, prefix int64)
	Finished func(catalog.Package, swarm.Transfer)
	// Busy (may be nil) is called while a download waits for a web seed
	// that answered busy (swarm.Progress.Busy), maybe often.
	Busy func(swarm.BusySeed)
	// Sources (may be nil) is called, before each Progress, with what the
	// peers and web seeds sent so far, over all rows, where the source
	// says (swarm.Progress.Sources; a daemon older than it does not).
	Sources func(swarm.Sources)
	// Stopped (may be nil) is called with what an archive's download had
	// received when it ended before the archive was whole, where the
	// source knows (swarm's Engine.Stopped; the daemon's socket closes
	// with an interrupted install, which then knows only the sum).
	Stopped func(catalog.Package, swarm.Transfer)
}

// sources calls ev.Sources, if any, with s, if any.
func (ev Events) sources(s *swarm.Sources) {
	if ev.Sources != nil && s != nil {
		ev.Sources(*s)
	}
}

// busy calls ev.Busy, if any, with b, if any.
func (ev Events) busy(b *swarm.BusySeed) {
	if ev.Busy != nil && b != nil {
		ev.Busy(*b)
	}
}

// holdCached asks a running daemon to hold the archives of a plan taken
// wholly from the cache out of its cache trim (cache_max_size) while they
// are extracted: a request that names them to keep and nothing to download
// (the daemon holds a request's archives for a while after it ends). With
// archives to download, the download request carries them (Fetch's keep).
// Best effort: no daemon, or one older than the request, holds nothing,
// and an archive trimmed meanwhile is downloaded again.
func (o *Options) holdCached(ctx context.Context, cached []catalog.Package) {
	if o.Source != nil || len(cached) == 0 {
		return
	}
	d := daemon.Dial(ctx, o.Paths.DaemonSocket())
	if d == nil {
		return
	}
	defer d.Close()
	req := daemon.Request{Keep: make([]daemon.Item, len(cached))}
	for i, r := range cached {
		req.Keep[i] = daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash}
	}
	if err := d.Download(ctx, req, 0, nil); err != nil {
		o.logger().Debug("the daemon did not hold the cached archives", "err", err)
	}
}

// engineSource downloads with an engine of this process, on every core
// until it is closed (release).
type engineSource struct {
	engine  *swarm.Engine
	release func()
}

func (f engineSource) Via() string { return "" }

func (f engineSource) Close() {
	f.engine.Close()
	f.release()
}

func (f engineSource) Fetch(ctx context.Context, rows, _ []catalog.Package, ev Events) error {
	var mu sync.Mutex
	done := make([]int64, len(rows))
	peers := make([]int, len(rows))
	sources := make([]swarm.Sources, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range rows {
		g.Go(func() error {
			err := f.engine.Download(gctx, r.Torrent, torrentmeta.Seeders(r.Magnet), func(pr swarm.Progress) {
				mu.Lock()
				done[i], peers[i], sources[i] = pr.Done, max(peers[i], pr.Peers), pr.Sources
				merged := swarm.MergeSources(sources)
				ev.sources(&merged)
				var sum int64
				most := 0
				for j, d := range done {
					sum += d
					most = max(most, peers[j])
				}
				// Under mu: the caller's callback runs on one goroutine at
				// a time, as the daemon's does, and sees sums in order.
				ev.Progress(sum, most)
				ev.Grew(r, pr.Prefix)
				ev.busy(pr.Busy)
				mu.Unlock()
			})
			if err != nil {
				if t, ok := f.engine.Stopped(InfoHash(r)); ok && ev.Stopped != nil {
					ev.Stopped(r, t)
				}
				return &daemon.ArchiveError{Archive: r.Archive, Err: fmt.Errorf("download %s: %w", r.Archive, err)}
			}
			t, _ := f.engine.Transfer(InfoHash(r))
			ev.Finished(r, t)
			return nil
		})
	}
	return g.Wait()
}

// InfoHash is a catalog row's info hash.
func InfoHash(r catalog.Package) swarm.InfoHash {
	ih, _ := swarm.ParseInfoHash(r.InfoHash) // the catalog's rows are checked at sync
	return ih
}

// daemonSource has the running daemon download, naming the packages by
// name@version and infohash: the one place that speaks its request format.
type daemonSource struct {
	d     *daemon.Client
	every time.Duration // progress events asked for; 0: the daemon's default
}

func (f daemonSource) Via() string { return " through dist-client daemon" }
func (f daemonSource) Close()      { f.d.Close() }

func (f daemonSource) Fetch(ctx context.Context, rows, keep []catalog.Package, fe Events) error {
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
		fe.sources(ev.Sources)
		fe.Progress(ev.Bytes, ev.Peers)
		fe.busy(ev.Busy)
		for a, n := range ev.Prefix {
			if r, ok := byArchive[a]; ok {
				fe.Grew(r, n)
			}
		}
		if ev.Completed != nil {
			if r, ok := byArchive[ev.Completed.Archive]; ok {
				fe.Finished(r, ev.Completed.Transfer)
			}
		}
		for _, st := range ev.Stopped {
			if r, ok := byArchive[st.Archive]; ok && fe.Stopped != nil {
				fe.Stopped(r, st.Transfer)
			}
		}
	})
}
