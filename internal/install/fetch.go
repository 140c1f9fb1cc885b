package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/ui"
)

// cached reports whether the cache holds a complete archive. Its SHA-256 is
// checked in the same read that extracts it (stage.Extract), so a cached
// archive costs one read, not two; one that fails is dropped and fetched
// again.
func (c *Client) cached(row catalog.Package) bool {
	fi, err := os.Stat(filepath.Join(c.Paths.Cache(), row.Archive))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == row.Size
}

// fetch downloads every archive not already cached, all at once (each
// piece checked against its hash on arrival; the SHA-256 is checked as the
// archive is extracted). It returns the bytes it had to download.
func (c *Client) fetch(ctx context.Context, items []item) (int64, error) {
	var need []catalog.Package
	var total int64
	for _, it := range items {
		if !c.cached(it.row) {
			need = append(need, it.row)
			total += it.row.Size
		}
	}
	if len(need) == 0 {
		return 0, nil
	}
	return total, c.download(ctx, need)
}

// download fetches rows through the daemon when one runs, else through an
// engine of its own.
func (c *Client) download(ctx context.Context, need []catalog.Package) error {
	// A running daemon downloads with its engine and keeps seeding.
	if d := daemon.Dial(ctx, c.Paths.DaemonSocket()); d != nil {
		return c.fetchViaDaemon(ctx, d, need)
	}
	engine, err := swarm.New(daemon.EngineConfig(c.Config, c.Paths.Cache(), c.Logger))
	if err != nil {
		return err
	}
	defer engine.Close()
	return Download(ctx, engine, need, c.UI, c.StallTimeout)
}

func (c *Client) fetchViaDaemon(ctx context.Context, d *daemon.Client, rows []catalog.Package) error {
	total := dropUnverified(c.Paths.Cache(), rows)
	c.UI.Printf("downloading through dist-client daemon\n")
	bar := c.UI.NewProgress(total, fmt.Sprintf("%d packages", len(rows)))
	peers := 0
	w := newWatchdog(ctx, c.StallTimeout)
	defer w.stop()
	err := askDaemon(w.ctx, d, rows, func(done int64, n int) {
		w.progress(done)
		bar.Set(done)
		peers = n
	})
	if err != nil {
		return w.explain(err)
	}
	bar.Done(peers)
	return nil
}

// askDaemon is the one place that speaks the daemon's request format: it
// has the daemon download rows, reporting bytes done and peers.
func askDaemon(ctx context.Context, d *daemon.Client, rows []catalog.Package, progress func(done int64, peers int)) error {
	items := make([]daemon.Item, len(rows))
	for i, r := range rows {
		items[i] = daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash}
	}
	return d.Download(ctx, items, func(ev daemon.Event) { progress(ev.Bytes, ev.Peers) })
}

// Download fetches rows through engine with one progress display and checks
// every archive. A download that receives nothing for stall fails.
func Download(ctx context.Context, engine *swarm.Engine, rows []catalog.Package, p *ui.Printer, stall time.Duration) error {
	if stall <= 0 {
		stall = 2 * time.Minute
	}
	total := dropUnverified(engine.Dir(), rows)
	what := rows[0].Archive
	if len(rows) > 1 {
		what = fmt.Sprintf("%d packages", len(rows))
	}
	bar := p.NewProgress(total, what)
	var mu sync.Mutex
	done := make([]int64, len(rows))
	peers := make([]int, len(rows))
	w := newWatchdog(ctx, stall)
	defer w.stop()
	g, gctx := errgroup.WithContext(w.ctx)
	for i, r := range rows {
		g.Go(func() error {
			err := engine.Download(gctx, r.Torrent, torrentmeta.Seeders(r.Magnet), func(pr swarm.Progress) {
				mu.Lock()
				done[i], peers[i] = pr.Done, max(peers[i], pr.Peers)
				var sum int64
				for _, d := range done {
					sum += d
				}
				mu.Unlock()
				w.progress(sum)
				bar.Set(sum)
			})
			if err != nil {
				return fmt.Errorf("download %s: %w", r.Archive, w.explain(err))
			}
			// Every piece was checked against its hash as it arrived, and the
			// archive's SHA-256 is checked in the read that extracts it.
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	maxPeers := 0
	for _, n := range peers {
		maxPeers = max(maxPeers, n)
	}
	bar.Done(maxPeers)
	return nil
}

// watchdog cancels a download that makes no progress for too long.
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	last   int64     // guarded by mu
	moved  time.Time // guarded by mu
	done   chan struct{}
}

func newWatchdog(parent context.Context, stall time.Duration) *watchdog {
	if stall <= 0 {
		stall = 2 * time.Minute
	}
	ctx, cancel := context.WithCancelCause(parent)
	w := &watchdog{ctx: ctx, cancel: cancel, moved: time.Now(), done: make(chan struct{})}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.done:
				return
			case <-t.C:
				w.mu.Lock()
				idle := time.Since(w.moved)
				w.mu.Unlock()
				if idle > stall {
					cancel(fmt.Errorf("no data received for %s: no peer has the package (is the server running and its seeder reachable?)", stall))
					return
				}
			}
		}
	}()
	return w
}

// progress records the bytes done so far.
func (w *watchdog) progress(n int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n != w.last {
		w.last, w.moved = n, time.Now()
	}
}

// explain replaces a cancellation the watchdog caused by its reason.
func (w *watchdog) explain(err error) error {
	if cause := context.Cause(w.ctx); cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return err
}

func (w *watchdog) stop() {
	close(w.done)
	w.cancel(nil)
}

// dropUnverified removes cached copies of rows that do not match the
// catalog (the library would trust a damaged full-size file) and returns the
// total download size.
func dropUnverified(dir string, rows []catalog.Package) (total int64) {
	for _, r := range rows {
		path := filepath.Join(dir, r.Archive)
		if err := verifyFile(path, r); err != nil {
			os.Remove(path)
		}
		total += r.Size
	}
	return total
}

// verifyFile checks an archive's size and SHA-256 against its catalog row.
func verifyFile(path string, row catalog.Package) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != row.Size {
		return fmt.Errorf("verify %s: %d bytes, catalog says %d", row.Archive, st.Size(), row.Size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("verify %s: %w", row.Archive, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != row.SHA256 {
		return fmt.Errorf("verify %s: sha256 %s, catalog says %s: the archive is corrupt or was tampered with", row.Archive, got, row.SHA256)
	}
	return nil
}
