// Package publish carries out dist-server add and remove: validate every
// package first, build reproducible archives and torrents, record them in
// the working catalog in one transaction, then publish a signed snapshot.
//
// Crash safety: archives are staged and renamed into the store before the
// catalog transaction, so a crash leaves at most an unreferenced archive
// (overwritten by the next add). The catalog commit is the publication
// point; the signed snapshot is derived from it and rebuilt by EnsurePublished
// whenever it is missing, stale or does not match its signature.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gofrs/flock"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/signing"
)

// Publisher adds and removes packages of one server.
type Publisher struct {
	Paths  paths.Server
	Config *config.Server
	// ConfigPath is the file Config was read from, for messages that name
	// a key of it; "" says server.yaml.
	ConfigPath string
	Logger     *slog.Logger // nil discards
	// OnWait is told when another add or remove holds the publish lock.
	OnWait func()
	// OnRaise is told when the working catalog's serial was raised above
	// the one published (raise): a command says so, a server logs it.
	OnRaise func(catalogSerial, published, serial int64)
}

// Result says what Add did with one package.
type Result struct {
	Package catalog.Package
	Added   bool   // false: the same content was already published (no-op)
	Dir     string // the package directory it came from, as given
	// Warnings are the directory's likely mistakes that do not stop it
	// (pkgdir.Package.Warnings).
	Warnings []string
}

// lock serialises publishers of one server (add, remove, start's repair),
// waiting for the lock while another holds it.
func (p *Publisher) lock(ctx context.Context) (*flock.Flock, error) {
	fl, ok, err := p.tryLock()
	if err != nil || ok {
		return fl, err
	}
	if p.OnWait != nil {
		p.OnWait()
	}
	if ok, err = fl.TryLockContext(ctx, 100*time.Millisecond); err != nil || !ok {
		return nil, fmt.Errorf("publish lock %s: %w", p.Paths.PublishLock(), errors.Join(err, ctx.Err()))
	}
	return fl, nil
}

// tryLock takes the publish lock if it is free; ok is false when another
// holds it.
func (p *Publisher) tryLock() (fl *flock.Flock, ok bool, err error) {
	if err := os.MkdirAll(p.Paths.Dir, 0o755); err != nil {
		return nil, false, fmt.Errorf("create %s: %w", p.Paths.Dir, err)
	}
	fl = flock.New(p.Paths.PublishLock())
	if ok, err = fl.TryLock(); err != nil {
		return nil, false, fmt.Errorf("publish lock %s: %w", p.Paths.PublishLock(), err)
	}
	return fl, ok, nil
}

// change takes what every change of the catalog needs, in this order: the
// publish lock (so that the key and the catalog read are not another
// publisher's half-way), the signing key and the working catalog. release
// closes the catalog and then lets the lock go.
func (p *Publisher) change(ctx context.Context) (key *signing.Key, db *catalog.DB, release func(), err error) {
	fl, err := p.lock(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if key, err = LoadKey(p.Paths); err == nil {
		db, err = p.openWorking(ctx)
	}
	if err != nil {
		fl.Unlock()
		return nil, nil, nil, err
	}
	return key, db, func() { db.Close(); fl.Unlock() }, nil
}

// Add publishes the package directories. Every directory is checked before
// anything is written; any bad one fails the whole call with every problem
// listed, and nothing is published.
func (p *Publisher) Add(ctx context.Context, dirs []string) ([]Result, error) {
	if len(dirs) == 0 {
		return nil, errors.New("no package directory given")
	}
	pkgs, err := loadAll(dirs)
	if err != nil {
		return nil, err
	}
	if err := p.checkWhitelist(); err != nil {
		return nil, fmt.Errorf("nothing published: %w", err)
	}
	key, db, release, err := p.change(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// A catalog clients would refuse (edited by hand since it was last
	// published) is refused before any archive is built, and left as it
	// is: the new rows would be recorded and never published. Its serial
	// is raised after (raise), not before.
	if err := db.CheckPublishable(ctx); err != nil {
		return nil, fmt.Errorf("nothing published: %w", err)
	}
	if err := p.raise(ctx, db, false); err != nil {
		return nil, err
	}

	if err := os.MkdirAll(p.Paths.Archives(), 0o755); err != nil {
		return nil, fmt.Errorf("create archive store: %w", err)
	}
	// A publisher killed mid-build leaves its staging directory behind (up
	// to a whole archive); under the lock no other publisher owns one.
	if stale, err := filepath.Glob(filepath.Join(p.Paths.Archives(), ".staging-*")); err == nil {
		for _, d := range stale {
			os.RemoveAll(d)
		}
	}
	staging, err := os.MkdirTemp(p.Paths.Archives(), ".staging-")
	if err != nil {
		return nil, fmt.Errorf("create staging directory: %w", err)
	}
	defer os.RemoveAll(staging)

	results := make([]Result, len(pkgs))
	var problems []error
	var fresh []catalog.Package
	for i, pk := range pkgs {
		row, err := p.build(ctx, pk, staging)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		results[i] = Result{Package: row, Added: true, Dir: pk.Dir, Warnings: pk.Warnings}
		old, err := db.Get(ctx, row.Name, row.Version)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
			if err := publishedClash(ctx, db, row); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", pk.Dir, err))
				continue
			}
			if err := archiveClash(ctx, db, row); err != nil {
				problems = append(problems, fmt.Errorf("%s: %w", pk.Dir, err))
				continue
			}
			fresh = append(fresh, row)
		case err != nil:
			return nil, err
		case old.SHA256 == row.SHA256:
			results[i] = Result{Package: old, Added: false, Dir: pk.Dir, Warnings: pk.Warnings}
		default:
			same, err := sameContent(ctx, filepath.Join(p.Paths.Archives(), old.Archive), old.SHA256, filepath.Join(staging, row.Archive))
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: %s@%s is already published with another archive (sha256 %.12s…, this directory gives %.12s…), which cannot be compared with this one: %w", pk.Dir, old.Name, old.Version, old.SHA256, row.SHA256, err))
				continue
			}
			if same {
				// An older dist-server's archive of the same tree (one zstd
				// frame where this one writes several, an 8 MiB window where
				// this one declares 4 MiB): still the package.
				w := append(slices.Clip(pk.Warnings), fmt.Sprintf("%s is published as the archive an older dist-server made of the same content (sha256 %.12s…); it stays as it is", old.ID(), old.SHA256))
				results[i] = Result{Package: old, Added: false, Dir: pk.Dir, Warnings: w}
				continue
			}
			problems = append(problems, fmt.Errorf("%s: %s@%s is already published with different content (sha256 %.12s…, this directory gives %.12s…): publish it under a new version", pk.Dir, old.Name, old.Version, old.SHA256, row.SHA256))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("nothing published:\n  %w", joinLines(problems))
	}
	if len(fresh) == 0 {
		// An add killed after its commit left the whitelist and the pair
		// behind; this one finishes its work (the whitelist is written only
		// when its list differs).
		if err := p.writeWhitelist(ctx, db); err != nil {
			return nil, err
		}
		return results, EnsurePublished(ctx, db, key, p.Paths.PublicDir())
	}
	for _, row := range fresh {
		if err := os.Rename(filepath.Join(staging, row.Archive), filepath.Join(p.Paths.Archives(), row.Archive)); err != nil {
			return nil, fmt.Errorf("store archive %s: %w", row.Archive, err)
		}
	}
	if err := fsutil.SyncDir(p.Paths.Archives()); err != nil {
		return nil, err
	}
	if _, err := db.Add(ctx, fresh); err != nil {
		// Nothing references the archives just stored: drop them, so a
		// refused add leaves the store as it was.
		for _, row := range fresh {
			os.Remove(filepath.Join(p.Paths.Archives(), row.Archive))
		}
		return nil, err
	}
	if err := p.writeWhitelist(ctx, db); err != nil {
		return nil, err
	}
	if err := Publish(ctx, db, key, p.Paths.PublicDir()); err != nil {
		return nil, fmt.Errorf("packages recorded, but publishing the signed catalog failed (a running server or the next add republishes it): %w", err)
	}
	return results, nil
}

// Remove withdraws package versions from the catalog, all or none, and
// deletes their archives from the store. Installed copies elsewhere are
// untouched. Unlike Add it does not refuse a catalog that fails the
// clients' check beforehand: withdrawing the bad row is one way out of
// it. The publication after the removal checks what is left; when that
// is refused the versions are withdrawn from the working catalog but
// still published, and their archives stay.
func (p *Publisher) Remove(ctx context.Context, refs []catalog.Ref) ([]catalog.Package, error) {
	if err := p.checkWhitelist(); err != nil {
		return nil, fmt.Errorf("nothing removed: %w", err)
	}
	key, db, release, err := p.change(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// Raised in the removal's own transaction, not before it: raise checks
	// the catalog first, and withdrawing a row clients refuse must not be
	// refused for it.
	from, floor, err := p.raiseFloor(ctx, db, false)
	if err != nil {
		return nil, err
	}
	rows, err := db.RemoveAllAbove(ctx, floor, refs)
	if err != nil {
		return nil, err
	}
	if floor > 0 {
		if m, err := db.Meta(ctx); err == nil {
			p.raised(from, floor, m.Serial)
		}
	}
	if err := p.writeWhitelist(ctx, db); err != nil {
		return rows, err
	}
	if err := Publish(ctx, db, key, p.Paths.PublicDir()); err != nil {
		return rows, err
	}
	for _, row := range rows {
		if err := os.Remove(filepath.Join(p.Paths.Archives(), row.Archive)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return rows, fmt.Errorf("delete archive: %w", err)
		}
	}
	return rows, nil
}

// joinLines joins errors one per line (indented under "nothing published").
func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		// A manifest with several mistakes says them one per line.
		msgs[i] = strings.ReplaceAll(e.Error(), "\n", "\n  ")
	}
	return &multiError{msg: strings.Join(msgs, "\n  "), errs: errs}
}

type multiError struct {
	msg  string
	errs []error
}

func (m *multiError) Error() string   { return m.msg }
func (m *multiError) Unwrap() []error { return m.errs }

// openCatalog opens the working catalog (openWorking), its serial raised
// above the one published if it is below it (raise).
func (p *Publisher) openCatalog(ctx context.Context) (*catalog.DB, error) {
	db, err := p.openWorking(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.raise(ctx, db, false); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openWorking opens the working catalog with the configured validity, so
// that every serial it makes is stamped with it; it refuses a catalog.db
// that is gone while a catalog is published (Lost), rather than make it
// anew.
func (p *Publisher) openWorking(ctx context.Context) (*catalog.DB, error) {
	if err := p.Lost(ctx); err != nil {
		return nil, err
	}
	return catalog.Open(ctx, p.Paths.Catalog(), catalog.ValidFor(p.validFor()))
}

// validFor is server.yaml's catalog_valid_for.
func (p *Publisher) validFor() time.Duration {
	if p.Config == nil || p.Config.CatalogValidFor <= 0 {
		return catalog.DefaultValidFor
	}
	return time.Duration(p.Config.CatalogValidFor)
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}
