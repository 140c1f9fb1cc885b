package catalog

// What changes a catalog: adding and removing package versions and
// bumping the serial, each in one transaction that keeps the seal's count
// of trackers and web seeds (seal.go) in step.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// Add records pkgs in one transaction and bumps the serial once if anything
// was added. Every package is validated as Check does (a zero Published
// means now). A name equal ignoring case to an existing name spelled
// differently is refused with ErrNameCase; an existing (name, version) with
// the same SHA256 is skipped, with a different one the whole call is refused
// with ErrConflict and nothing is written. It returns the packages actually
// added, with Published normalised to UTC seconds.
func (db *DB) Add(ctx context.Context, pkgs []Package) (added []Package, err error) {
	if err := db.writable("add"); err != nil {
		return nil, err
	}
	now := db.now().UTC().Truncate(time.Second)
	norm := make([]Package, len(pkgs))
	urls := make([]rowURLs, len(pkgs)) // each row's trackers and web seeds
	for i, p := range pkgs {
		if p.Published.IsZero() {
			p.Published = now
		}
		p.Published = p.Published.UTC().Truncate(time.Second)
		if urls[i], err = validatePackage(p); err != nil {
			return nil, fmt.Errorf("add: %w", err)
		}
		norm[i] = p
	}

	_, err = db.write(ctx, "add", 0, func(tx *sql.Tx, held *catalogURLs) (*catalogURLs, bool, error) {
		// The catalog's trackers and web seeds with the new rows' within the
		// bounds clients hold it to (MaxCatalogTrackers, MaxCatalogWebSeeds):
		// announce_urls or public_url changed over time could otherwise add
		// up past them. The seal holds the catalog's trackers and web seeds;
		// reading every row's torrent for them instead took 0.35 s
		// for 10,000 rows of 3.3 KB torrents (0.38 s here), and now takes
		// place only after a write that was not this package's.
		if held == nil {
			var err error
			if held, err = heldURLs(ctx, tx); err != nil {
				return nil, false, db.opErr("add", err)
			}
		}
		bound := held.clone()
		for i, p := range norm {
			if err := bound.add(p, urls[i]); err != nil {
				return nil, false, fmt.Errorf("add: %w", err)
			}
		}
		for i, p := range norm {
			ok, err := addOne(ctx, tx, p)
			if err != nil {
				return nil, false, db.opErr("add "+p.ID(), err)
			}
			if ok {
				added = append(added, p)
				held.add(p, urls[i]) // within bound, which holds every row given
			}
		}
		return held, len(added) > 0, nil
	})
	if err != nil || len(added) == 0 {
		return nil, err
	}
	return added, nil
}

// addOne inserts p unless the same version with the same content is there.
func addOne(ctx context.Context, tx *sql.Tx, p Package) (bool, error) {
	var other string
	err := tx.QueryRowContext(ctx,
		`SELECT name FROM packages WHERE lower(name) = lower(?) AND name <> ? LIMIT 1`,
		p.Name, p.Name).Scan(&other)
	if err == nil {
		return false, fmt.Errorf("%w: %q, catalog already has %q", ErrNameCase, p.Name, other)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}

	var sum string
	err = tx.QueryRowContext(ctx, `SELECT sha256 FROM packages WHERE name = ? AND version = ?`,
		p.Name, p.Version).Scan(&sum)
	switch {
	case err == nil && sum == p.SHA256:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("%w: sha256 %s in catalog, %s given", ErrConflict, sum, p.SHA256)
	case !errors.Is(err, sql.ErrNoRows):
		return false, err
	}

	_, err = tx.ExecContext(ctx, `INSERT INTO packages (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Version, p.Archive, p.Size, p.InstalledSize, p.SHA256, p.InfoHash, p.Magnet, p.Torrent,
		p.Description, p.License, p.Homepage, encodeList(p.Depends), encodeList(p.Conflicts), p.Published.Unix())
	return err == nil, err
}

// Remove deletes one version (the name matches ignoring case), bumps the
// serial and returns what was removed.
func (db *DB) Remove(ctx context.Context, name, version string) (Package, error) {
	ps, err := db.RemoveAll(ctx, []Ref{{Name: name, Version: version}})
	if err != nil {
		return Package{}, err
	}
	return ps[0], nil
}

// Ref names one package version.
type Ref struct{ Name, Version string }

// RemoveAll deletes every version named (names match ignoring case) in one
// transaction with one serial bump: if any is missing, nothing is removed.
func (db *DB) RemoveAll(ctx context.Context, refs []Ref) ([]Package, error) {
	return db.RemoveAllAbove(ctx, 0, refs)
}

// RemoveAllAbove is RemoveAll with the new serial above both the
// catalog's and floor (a serial published before, which clients may
// hold), in the same transaction: nothing is written when a version is
// missing.
func (db *DB) RemoveAllAbove(ctx context.Context, floor int64, refs []Ref) ([]Package, error) {
	if err := db.writable("remove"); err != nil {
		return nil, err
	}
	var out []Package
	_, err := db.write(ctx, "remove", floor, func(tx *sql.Tx, held *catalogURLs) (*catalogURLs, bool, error) {
		for _, r := range refs {
			id := r.Name + "@" + r.Version
			p, err := get(ctx, tx, r.Name, r.Version)
			if err != nil {
				return nil, false, db.opErr("remove", err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM packages WHERE name = ? AND version = ?`, p.Name, p.Version); err != nil {
				return nil, false, db.opErr("remove "+id, err)
			}
			out = append(out, p)
			// A catalog with fewer rows of a sealed one passes Check too; the
			// row's trackers and web seeds leave the seal's count.
			if held != nil {
				var mi metainfo.MetaInfo
				if err := decodeBencode(p.Torrent, &mi); err != nil {
					held = nil
				} else {
					held.remove(torrentURLs(&mi))
				}
			}
		}
		return held, true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BumpSerial increments the serial (Created = now, ValidUntil = now + the
// validity), so that the catalog can be republished unchanged under a new
// serial (a re-signing before expiry, a key rotation), and returns the new
// meta.
func (db *DB) BumpSerial(ctx context.Context) (Meta, error) { return db.BumpSerialAbove(ctx, 0) }

// BumpSerialAbove is BumpSerial to a serial above both the catalog's and
// floor (a serial published before, which clients may hold).
func (db *DB) BumpSerialAbove(ctx context.Context, floor int64) (Meta, error) {
	if err := db.writable("bump serial"); err != nil {
		return Meta{}, err
	}
	return db.write(ctx, "bump serial", floor, func(_ *sql.Tx, held *catalogURLs) (*catalogURLs, bool, error) {
		return held, true, nil
	})
}

// write is the one way a catalog's packages and serial change (Add,
// RemoveAllAbove, BumpSerialAbove; schema.go only makes the tables):
// change runs in a transaction that then bumps the serial above the
// catalog's and floor and commits, and the seal moves on to the file as
// committed. change gets the seal's
// trackers and web seeds of the catalog before (nil when it is not
// sealed) and returns them as the change leaves them (nil when it cannot
// tell) and whether it changed anything: when not, nothing is written,
// not even a serial. It returns the new meta. Database errors here go
// through opErr with op; change's own are returned as they are.
func (db *DB) write(ctx context.Context, op string, floor int64, change func(tx *sql.Tx, held *catalogURLs) (*catalogURLs, bool, error)) (Meta, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return Meta{}, db.opErr(op, err)
	}
	defer tx.Rollback()
	stx := db.beginSealed()
	held, changed, err := change(tx, stx.urls)
	if err != nil || !changed {
		return Meta{}, err
	}
	m, err := db.bumpSerial(ctx, tx, floor)
	if err != nil {
		return Meta{}, db.opErr(op, err)
	}
	if err := tx.Commit(); err != nil {
		return Meta{}, db.opErr(op, err)
	}
	stx.commit(db, held)
	return m, nil
}

// bumpSerial starts a new publication, under a serial above the
// catalog's and floor, and at least TimeSerial of now (a backup restored
// publishes past what was published since it): every serial carries its
// own creation time and validity. A serial or floor at math.MaxInt64 has
// no serial above it: that is ErrLastSerial, where SQLite's sum turned
// into a REAL and the STRICT table refused it ("constraint failed:
// cannot store REAL value in INTEGER column meta.serial"), naming
// neither the file nor the serial.
func (db *DB) bumpSerial(ctx context.Context, tx *sql.Tx, floor int64) (Meta, error) {
	var serial int64
	if err := tx.QueryRowContext(ctx, `SELECT serial FROM meta WHERE id = 1`).Scan(&serial); err != nil {
		return Meta{}, err
	}
	if serial == math.MaxInt64 || floor == math.MaxInt64 {
		return Meta{}, db.lastSerial(serial, floor)
	}
	created, validUntil, least := db.stamp()
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET serial = max(serial + 1, ? + 1, ?), created = ?, valid_until = ? WHERE id = 1`,
		floor, least, created, validUntil); err != nil {
		return Meta{}, err
	}
	return readMeta(ctx, tx)
}

// ErrLastSerial: the catalog's serial, or the one it must go above, is
// math.MaxInt64, and no serial follows it.
var ErrLastSerial = errors.New("the serial cannot grow")

// lastSerial is ErrLastSerial for the catalog at serial, floor being the
// serial its next one must go above (one published), naming the file, the
// serial and the way out.
func (db *DB) lastSerial(serial, floor int64) error {
	if serial == math.MaxInt64 {
		return fmt.Errorf("%w: catalog %s is at serial %d, the highest a serial can be, so no publication can follow it (a serial set by hand?): "+
			"set it back to the serial published (public/packages.db's) with sqlite3 %s 'UPDATE meta SET serial = N'; the next publication goes above that one",
			ErrLastSerial, db.path, serial, db.path)
	}
	return fmt.Errorf("%w: catalog %s (serial %d) must be published above serial %d, the one published, which is the highest a serial can be (a catalog.db whose serial was set by hand was published?), so no publication can follow it: "+
		"clients and mirrors that took it refuse every lower serial signed by this key, and follow only a new key (README: When the server's key changes)",
		ErrLastSerial, db.path, serial, floor)
}
