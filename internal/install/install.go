// Package install carries out what dist-client is asked to change: it
// resolves a plan, downloads every archive at once over BitTorrent, verifies
// each against the catalog's SHA-256, extracts it and runs its scripts, and
// records the result. A failing install script is rolled back through the
// package's uninstall script and leaves no record.
package install

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

// Client changes one client's installed state.
type Client struct {
	Paths  paths.Client
	Config *config.Client
	UI     *ui.Printer
	Logger *slog.Logger
	// StallTimeout fails a download that receives nothing for this long.
	StallTimeout time.Duration
}

// ErrNotInstalled names a package that is not installed.
var ErrNotInstalled = errors.New("not installed")

// Lock takes the client lock, telling the user when it has to wait.
func (c *Client) Lock(ctx context.Context) (*state.Lock, error) {
	return state.Acquire(ctx, c.Paths.Lock(), func(pid int) {
		who := "another dist-client"
		if pid > 0 {
			who = fmt.Sprintf("another dist-client (pid %d)", pid)
		}
		c.UI.Warnf("%s is changing this installation; waiting for it to finish...\n", who)
	})
}

// txn is one change of client state: the lock, the catalog and the
// installed records, held together from begin to end.
type txn struct {
	lock *state.Lock
	db   *catalog.DB
	st   *state.State
}

// begin takes the lock and opens the catalog and the installed state.
func (c *Client) begin(ctx context.Context) (*txn, error) {
	lock, err := c.Lock(ctx)
	if err != nil {
		return nil, err
	}
	db, err := catalogclient.Open(ctx, c.Paths.Dir)
	if err != nil {
		lock.Release()
		return nil, err
	}
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		db.Close()
		lock.Release()
		return nil, err
	}
	return &txn{lock: lock, db: db, st: st}, nil
}

func (t *txn) end() {
	t.db.Close()
	t.lock.Release()
}

// plan resolves req against the catalog and returns the changes with their
// catalog rows, in install order.
func (t *txn) plan(ctx context.Context, req resolve.Request) ([]item, error) {
	return planWith(ctx, t.db, req)
}

func planWith(ctx context.Context, db *catalog.DB, req resolve.Request) ([]item, error) {
	src := newSource(ctx, db)
	plan, err := resolve.Resolve(src, req)
	if src.err != nil {
		return nil, src.err
	}
	if err != nil {
		return nil, err
	}
	items := make([]item, 0, len(plan.Steps))
	for _, s := range plan.Steps {
		row, err := src.row(s.Name, s.Version.Original())
		if err != nil {
			return nil, fmt.Errorf("catalog: %s@%s: %w", s.Name, s.Version, err)
		}
		items = append(items, item{step: s, row: row})
	}
	return items, nil
}

// item is one package of a plan with its catalog row.
type item struct {
	step resolve.Step
	row  catalog.Package
}

// Install resolves the requests against the catalog and what is installed,
// then downloads and installs the plan.
func (c *Client) Install(ctx context.Context, requests []string) error {
	var deps []resolve.Dep
	for _, r := range requests {
		d, err := manifest.ParseRequest(r)
		if err != nil {
			return fmt.Errorf("argument %q: %w", r, err)
		}
		deps = append(deps, toDep(d))
	}
	tx, err := c.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.end()
	items, err := tx.plan(ctx, resolve.Request{Deps: deps, Installed: installedList(tx.st)})
	if err != nil {
		return err
	}
	st := tx.st
	// Asking for a package by name makes it explicitly installed, as with
	// pacman and apt: a later --cascade must not take it away.
	marked := false
	for _, d := range deps {
		if r, ok := st.Get(d.Name); ok && r.Auto {
			r.Auto = false
			st.Packages[r.Name] = r
			marked = true
		}
	}
	if len(items) == 0 {
		for _, d := range deps {
			if r, ok := st.Get(d.Name); ok {
				c.UI.Printf("%s %s is already installed\n", r.Name, r.Version)
			}
		}
		if marked {
			return st.Save(c.Paths.Installed())
		}
		return nil
	}
	c.printPlan(items)
	return c.carryOut(ctx, st, items)
}

// carryOut downloads every archive of the plan first, then applies the
// steps in order.
func (c *Client) carryOut(ctx context.Context, st *state.State, items []item) error {
	if err := c.fetch(ctx, items); err != nil {
		return err
	}
	for _, it := range items {
		if err := c.apply(ctx, st, it); err != nil {
			return err
		}
	}
	return nil
}

// apply installs a new package, or moves an installed one to the planned
// version through its uninstall and install scripts, with rollback.
func (c *Client) apply(ctx context.Context, st *state.State, it item) error {
	if it.step.From != nil {
		return c.upgradeOne(ctx, st, it)
	}
	return c.installOne(ctx, st, it)
}

func installedList(st *state.State) []resolve.Installed {
	var out []resolve.Installed
	for _, r := range st.Sorted() {
		v, err := semver.StrictNewVersion(r.Version)
		if err != nil {
			continue
		}
		out = append(out, resolve.Installed{Name: r.Name, Version: v, Auto: r.Auto})
	}
	return out
}

func (c *Client) printPlan(items []item) {
	var total, installed int64
	names := make([]string, 0, len(items))
	for _, it := range items {
		total += it.row.Size
		installed += it.row.InstalledSize
		n := it.row.Name + " " + it.row.Version
		if it.step.From != nil {
			n = it.row.Name + " " + it.step.From.String() + " -> " + it.row.Version
		}
		if it.step.Auto {
			n += " (dependency)"
		}
		names = append(names, n)
	}
	c.UI.Printf("Packages (%d): %s\n", len(items), strings.Join(names, ", "))
	c.UI.Printf("Total download size:  %s\n", units.FormatBytes(total))
	c.UI.Printf("Total installed size: %s\n", units.FormatBytes(installed))
}

// cached reports whether the cache already holds the archive, verified.
func (c *Client) cached(row catalog.Package) bool {
	return row.VerifyFile(filepath.Join(c.Paths.Cache(), row.Archive)) == nil
}

// fetch downloads every archive not already cached, all at once, then
// verifies each against the catalog's size and SHA-256.
func (c *Client) fetch(ctx context.Context, items []item) error {
	var need []catalog.Package
	var total int64
	for _, it := range items {
		if !c.cached(it.row) {
			need = append(need, it.row)
			total += it.row.Size
		}
	}
	if len(need) == 0 {
		return nil
	}
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
	items := make([]daemon.Item, len(rows))
	for i, r := range rows {
		items[i] = daemon.Item{Name: r.Name, Version: r.Version, InfoHash: r.InfoHash}
	}
	c.UI.Printf("downloading through dist-client daemon\n")
	bar := c.UI.NewProgress(total, fmt.Sprintf("%d packages", len(rows)))
	peers := 0
	w := newWatchdog(ctx, c.StallTimeout)
	defer w.stop()
	err := d.Download(w.ctx, items, func(ev daemon.Event) {
		w.progress(ev.Bytes)
		bar.Set(ev.Bytes)
		peers = ev.Peers
	})
	if err != nil {
		return w.explain(err)
	}
	bar.Done(peers)
	for _, r := range rows {
		if err := r.VerifyFile(filepath.Join(c.Paths.Cache(), r.Archive)); err != nil {
			return err
		}
	}
	return nil
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
			return r.VerifyFile(filepath.Join(engine.Dir(), r.Archive))
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
		if err := r.VerifyFile(path); err != nil {
			os.Remove(path)
		}
		total += r.Size
	}
	return total
}

// pkgDir is where an installed version's files are extracted.
func (c *Client) pkgDir(name, version string) string {
	return filepath.Join(c.Paths.Packages(), name+"-"+version)
}

// installOne extracts a verified archive, runs install.sh and records the
// package. On a failing script it runs uninstall.sh, removes the extracted
// files and records nothing.
func (c *Client) installOne(ctx context.Context, st *state.State, it item) error {
	row := it.row
	dir := c.pkgDir(row.Name, row.Version)
	if err := c.extract(ctx, row, dir); err != nil {
		return err
	}
	env := script.Env{Name: row.Name, Version: row.Version, PkgDir: dir, Prefix: c.Config.Prefix}
	c.UI.Printf("installing %s %s\n", row.Name, row.Version)
	if err := script.Run(ctx, "install.sh", env, c.UI.ScriptOutput()); err != nil {
		c.UI.Warnf("install of %s %s failed; running its uninstall.sh to clean up\n", row.Name, row.Version)
		// Clean up even when ctx was cancelled: the rollback must run.
		cleanupCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if uerr := script.Run(cleanupCtx, "uninstall.sh", env, c.UI.ScriptOutput()); uerr != nil {
			c.UI.Warnf("cleanup of %s: %v\n", row.Name, uerr)
		}
		os.RemoveAll(dir)
		return fmt.Errorf("install %s %s: %w", row.Name, row.Version, err)
	}
	st.Packages[row.Name] = state.Record{
		Name:        row.Name,
		Version:     row.Version,
		Auto:        it.step.Auto,
		Depends:     row.Depends,
		Conflicts:   row.Conflicts,
		Archive:     row.Archive,
		SHA256:      row.SHA256,
		Size:        row.InstalledSize,
		InstalledAt: time.Now().UTC().Truncate(time.Second),
	}
	if err := st.Save(c.Paths.Installed()); err != nil {
		return err
	}
	c.UI.Printf("installed %s %s\n", row.Name, row.Version)
	return nil
}

// extract unpacks the cached archive into dir, replacing leftovers of an
// interrupted earlier attempt. It stops at the installed size the catalog
// declares, so a decompression bomb cannot fill the disk.
func (c *Client) extract(ctx context.Context, row catalog.Package, dir string) error {
	if err := os.MkdirAll(c.Paths.Packages(), 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	f, err := os.Open(filepath.Join(c.Paths.Cache(), row.Archive))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := archive.Extract(ctx, f, tmp, row.InstalledSize); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("extract %s: %w", row.Archive, err)
	}
	return os.Rename(tmp, dir)
}

// Uninstall removes installed packages. A package that another installed
// package (not also being removed) depends on is refused. With cascade,
// dependencies installed automatically that nothing else needs go too.
func (c *Client) Uninstall(ctx context.Context, names []string, cascade bool) error {
	lock, err := c.Lock(ctx)
	if err != nil {
		return err
	}
	defer lock.Release()
	st, err := state.Load(c.Paths.Installed())
	if err != nil {
		return err
	}
	remove := map[string]bool{}
	for _, n := range names {
		r, ok := st.Get(n)
		if !ok {
			return fmt.Errorf("uninstall %s: %w", n, ErrNotInstalled)
		}
		remove[r.Name] = true
	}
	if cascade {
		for changed := true; changed; {
			changed = false
			for _, r := range st.Packages {
				if remove[r.Name] || !r.Auto {
					continue
				}
				if len(dependents(st, r.Name, remove)) == 0 && neededOnlyByRemoved(st, r.Name, remove) {
					remove[r.Name] = true
					changed = true
				}
			}
		}
	}
	for _, n := range sortedKeys(remove) {
		if ds := dependents(st, n, remove); len(ds) > 0 {
			return refuseNeeded(n, ds)
		}
	}
	order := removalOrder(st, remove)
	for _, n := range order {
		if err := c.uninstallOne(ctx, st, st.Packages[n]); err != nil {
			return err
		}
	}
	if !cascade {
		var orphans []string
		for _, r := range st.Sorted() {
			if r.Auto && len(dependents(st, r.Name, nil)) == 0 {
				orphans = append(orphans, r.Name)
			}
		}
		if len(orphans) > 0 {
			c.UI.Printf("no longer needed (installed as dependencies): %s\n  remove them with: dist-client uninstall %s\n", strings.Join(orphans, ", "), strings.Join(orphans, " "))
		}
	}
	return nil
}

// refuseNeeded explains why name cannot go and what the user can type.
func refuseNeeded(name string, ds []state.Record) error {
	labels := make([]string, len(ds))
	names := make([]string, len(ds))
	for i, d := range ds {
		labels[i], names[i] = d.Name+" "+d.Version, d.Name
	}
	cmd := "dist-client uninstall " + strings.Join(append(names, name), " ")
	if len(ds) == 1 {
		return fmt.Errorf("cannot uninstall %s: %s depends on it (uninstall %s first, or both together: %s)", name, labels[0], names[0], cmd)
	}
	return fmt.Errorf("cannot uninstall %s: %s and %s depend on it (uninstall them first, or all together: %s)",
		name, strings.Join(labels[:len(labels)-1], ", "), labels[len(labels)-1], cmd)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dependents lists installed packages, not in skip, that depend on name.
func dependents(st *state.State, name string, skip map[string]bool) []state.Record {
	var out []state.Record
	for _, r := range st.Sorted() {
		if skip[r.Name] || r.Name == name {
			continue
		}
		for _, d := range r.Depends {
			dep, err := manifest.ParseDependency(d)
			if err == nil && strings.EqualFold(dep.Name, name) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// neededOnlyByRemoved reports whether some package being removed depends on
// name (so removing it is part of the cascade, not a random orphan sweep).
func neededOnlyByRemoved(st *state.State, name string, remove map[string]bool) bool {
	for n := range remove {
		for _, d := range st.Packages[n].Depends {
			dep, err := manifest.ParseDependency(d)
			if err == nil && strings.EqualFold(dep.Name, name) {
				return true
			}
		}
	}
	return false
}

// removalOrder puts dependents before their dependencies.
func removalOrder(st *state.State, remove map[string]bool) []string {
	var names []string
	for n := range remove {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	seen := map[string]bool{}
	var visit func(n string)
	visit = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		// Dependents first.
		for _, m := range names {
			for _, d := range st.Packages[m].Depends {
				dep, err := manifest.ParseDependency(d)
				if err == nil && strings.EqualFold(dep.Name, n) {
					visit(m)
				}
			}
		}
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	return out
}

// uninstallOne runs the installed version's uninstall.sh and drops the
// record and the extracted files.
func (c *Client) uninstallOne(ctx context.Context, st *state.State, r state.Record) error {
	dir := c.pkgDir(r.Name, r.Version)
	if err := c.ensureExtracted(ctx, r); err != nil {
		return fmt.Errorf("uninstall %s: %w", r.Name, err)
	}
	c.UI.Printf("uninstalling %s %s\n", r.Name, r.Version)
	env := script.Env{Name: r.Name, Version: r.Version, PkgDir: dir, Prefix: c.Config.Prefix}
	if err := script.Run(ctx, "uninstall.sh", env, c.UI.ScriptOutput()); err != nil {
		return fmt.Errorf("uninstall %s %s: %w (the package stays recorded as installed)", r.Name, r.Version, err)
	}
	delete(st.Packages, r.Name)
	if err := st.Save(c.Paths.Installed()); err != nil {
		return err
	}
	os.RemoveAll(dir)
	c.UI.Printf("uninstalled %s %s\n", r.Name, r.Version)
	return nil
}
