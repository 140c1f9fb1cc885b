package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/signing"
)

// Snapshot file names inside the public directory.
const (
	DBFile       = "packages.db"
	SigFile      = "packages.db.sig"
	RotationFile = "packages.db.rotation" // every key rotation statement, oldest first (see Rotate)
)

// Publish writes a snapshot of db and its signature into dir. Each file is
// replaced atomically; a reader that catches the moment between the two
// renames sees a pair that does not verify, and EnsurePublished (and
// clients, by retrying) handle that.
//
// Every signature goes through here, and nothing is signed that clients
// would refuse: the snapshot passes the check clients run at sync
// (catalog.SnapshotChecked) or Publish fails with catalog.ErrUnpublishable,
// naming the row and the field, and leaves the pair in dir as it was.
// Checking every row is most of a publication: of 10,000 rows, 1.0 to
// 1.35 s here with the check, 0.34 to 0.38 s without (BenchmarkPublish10k).
// The catalog's seal skips it when the catalog changed only through the
// publisher since it last passed (0.34 to 0.43 s), so it is paid once
// after catalog.db was written by something else.
func Publish(ctx context.Context, db *catalog.DB, key *signing.Key, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	tmp := filepath.Join(dir, ".packages.db.next")
	if err := db.SnapshotChecked(ctx, tmp); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer os.Remove(tmp)
	data, err := os.ReadFile(tmp)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(dir, SigFile+".next"), key.Sign(data), 0o644); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, DBFile)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(filepath.Join(dir, SigFile+".next"), filepath.Join(dir, SigFile)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	matchRotations(dir, key.Public())
	return fsutil.SyncDir(dir)
}

// withdrawnSuffix names the key rotation statements set aside by
// matchRotations (in the public directory, which serves only the three
// published names).
const withdrawnSuffix = ".withdrawn"

// matchRotations keeps the published key rotation statements in step with
// key. Statements that cannot lead to it (the publisher lost its key and
// made a new one, README: lost or stolen key; or a start without
// signing.key before the key was restored) are set aside: clients that
// pinned a key of the chain refuse the new key either way, but a mirror
// checks that the chain it serves leads to the catalog's signer and refused
// to follow the publisher at all. Statements set aside that lead to key
// again (the old key restored from a backup) are published again. A chain
// whose last statement hands over from key is a rotation that crashed
// before its commit (Rotate) and stays. Best effort: the catalog is
// published already, and a chain that cannot be read is left as it is.
func matchRotations(dir string, key signing.PublicKey) {
	leads := func(path string) (exists, ok bool) {
		data, err := os.ReadFile(path)
		if err != nil {
			return !errors.Is(err, os.ErrNotExist), false
		}
		chain, err := signing.ParseRotations(data)
		if err != nil || len(chain) == 0 {
			return true, err != nil // a damaged chain is left as it is
		}
		last := chain[len(chain)-1]
		return true, last.New.Equal(key) || last.Old.Equal(key)
	}
	published := filepath.Join(dir, RotationFile)
	aside := published + withdrawnSuffix
	switch exists, ok := leads(published); {
	case exists && !ok:
		os.Rename(published, aside)
	case !exists:
		if _, ok := leads(aside); ok {
			os.Rename(aside, published)
		}
	}
}

// Snapshot is a published catalog as read back from disk.
type Snapshot struct {
	DB, Sig []byte
	Serial  int64
	Meta    catalog.Meta
	// Packages are the catalog's packages, read from these bytes: what a
	// server serves and seeds beside them (the working catalog may already
	// hold the next publication's).
	Packages []catalog.Package
	// Rotation is the key rotation chain (RotationFile), nil when the key
	// never rotated.
	Rotation []byte
}

// readAttempts bounds how often ReadPublished reads again a pair that a
// publication replaced while it was being read. Publications take tens of
// milliseconds each, so a second read almost never overlaps another.
const readAttempts = 3

// errReplaced: the catalog file was replaced while it was read.
var errReplaced = errors.New("the published catalog was replaced while it was read")

// AnySerial, given to ReadPublished, takes the published pair whatever
// its serial: the last one signed, when the working catalog cannot be.
const AnySerial = -1

// ReadPublished reads the published pair and checks that it verifies with
// pub and carries the given serial (the working catalog's, or AnySerial). It reads the
// rotation chain too, and checks its form.
//
// The serial and the packages are read by SQLite from the file, not from
// the bytes read, so the file is read again afterwards and must not have
// changed: a publication renamed in between would otherwise pair the old
// bytes with the new serial, and a server would serve the old catalog
// under the new serial until the next publication (a mirror that synced
// in that moment stayed a publication behind; seen in TestRunMirror under
// load).
func ReadPublished(ctx context.Context, dir string, pub signing.PublicKey, serial int64) (Snapshot, error) {
	for attempt := 1; ; attempt++ {
		snap, err := readPublishedOnce(ctx, dir, pub, serial)
		if !errors.Is(err, errReplaced) || attempt == readAttempts {
			return snap, err
		}
	}
}

func readPublishedOnce(ctx context.Context, dir string, pub signing.PublicKey, serial int64) (Snapshot, error) {
	path := filepath.Join(dir, DBFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	sig, err := os.ReadFile(filepath.Join(dir, SigFile))
	if err != nil {
		return Snapshot{}, err
	}
	if err := signing.Verify(pub, data, sig); err != nil {
		return Snapshot{}, err
	}
	meta, pkgs, err := readPackages(ctx, path)
	if err != nil {
		return Snapshot{}, fmt.Errorf("%s: %w", path, err)
	}
	again, err := os.ReadFile(path)
	if err != nil {
		return Snapshot{}, err
	}
	if !bytes.Equal(again, data) {
		return Snapshot{}, fmt.Errorf("%s: %w", path, errReplaced)
	}
	if serial != AnySerial && meta.Serial != serial {
		return Snapshot{}, fmt.Errorf("%s: published serial %d, catalog serial %d", path, meta.Serial, serial)
	}
	rot, err := readRotations(dir)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{DB: data, Sig: sig, Serial: meta.Serial, Meta: meta, Packages: pkgs, Rotation: rot}, nil
}

func readPackages(ctx context.Context, path string) (catalog.Meta, []catalog.Package, error) {
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		return catalog.Meta{}, nil, err
	}
	defer db.Close()
	meta, err := db.Meta(ctx)
	if err != nil {
		return catalog.Meta{}, nil, err
	}
	pkgs, err := db.All(ctx)
	return meta, pkgs, err
}

// EnsurePublished makes the public pair match the working catalog,
// republishing when it is missing, stale or does not verify (after a crash
// between the two renames, or a kill -9 of add).
func EnsurePublished(ctx context.Context, db *catalog.DB, key *signing.Key, dir string) error {
	meta, err := db.Meta(ctx)
	if err != nil {
		return err
	}
	if _, err := ReadPublished(ctx, dir, key.Public(), meta.Serial); err == nil {
		return nil
	}
	return Publish(ctx, db, key, dir)
}

// raise bumps db's serial above the one published when it is below it
// (or equal to it, with orEqual: a file moved into place, Adopt). A
// backup of catalog.db restored, or a serial edited down, was published
// under its own serial, which every client that had synced the higher one
// refused as a rollback: they kept their older catalog without a word
// until the publisher's serial caught up. The published file is read
// unverified: whoever signed it, clients may hold its serial.
//
// The catalog is checked before its serial is written: one clients would
// refuse (catalog.ErrUnpublishable) is left as it is. The raise was
// committed first, and the publication after it refused: the refused file
// had been changed all the same, its stamp moved on (a review).
func (p *Publisher) raise(ctx context.Context, db *catalog.DB, orEqual bool) error {
	from, floor, err := p.raiseFloor(ctx, db, orEqual)
	if err != nil || floor == 0 {
		return err
	}
	if err := db.CheckPublishable(ctx); err != nil {
		return err
	}
	next, err := db.BumpSerialAbove(ctx, floor)
	if err != nil {
		return err
	}
	p.raised(from, floor, next.Serial)
	return nil
}

// raiseFloor is the published serial that db's next serial must be above
// (raise), 0 when db's is above it already; from is db's serial.
//
// A catalog of serial 0 (made anew: nothing was ever published from it)
// while a serial is published is not raised but refused: catalog.db was
// lost, and publishing what is added to an empty catalog would withdraw
// every package published (a review of the raise).
func (p *Publisher) raiseFloor(ctx context.Context, db *catalog.DB, orEqual bool) (from, floor int64, err error) {
	published := publishedSerial(ctx, p.Paths.PublicDir())
	m, err := db.Meta(ctx)
	if err != nil || published == 0 || m.Serial > published || m.Serial == published && !orEqual {
		return m.Serial, 0, err
	}
	if m.Serial == 0 {
		return 0, 0, p.lost("is new", published)
	}
	return m.Serial, published, nil
}

// raised says that db's serial from was raised above the published one to
// serial.
func (p *Publisher) raised(from, published, serial int64) {
	p.logger().Warn("catalog.db's serial is not above the one published (a backup restored?): publishing it under the next, as clients refuse a lower one",
		"catalog_serial", from, "published_serial", published, "serial", serial)
	if p.OnRaise != nil {
		p.OnRaise(from, published, serial)
	}
}

// ErrCatalogLost: catalog.db is gone, or was made anew, while a catalog
// is published.
var ErrCatalogLost = errors.New("the working catalog was lost")

// Lost refuses a working catalog that is gone while a catalog is
// published, before anything makes it anew (catalog.Open would): an add
// refused by raise had left an empty catalog.db behind, which a restore
// by cp then overwrote in place, unseen by the running server (an
// attacker's run).
func (p *Publisher) Lost(ctx context.Context) error {
	if _, err := os.Lstat(p.Paths.Catalog()); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if published := publishedSerial(ctx, p.Paths.PublicDir()); published > 0 {
		return p.lost("is gone", published)
	}
	return nil
}

// lost is ErrCatalogLost, saying what became of catalog.db and how to
// restore it.
func (p *Publisher) lost(what string, published int64) error {
	pub := filepath.Join(p.Paths.PublicDir(), DBFile)
	return fmt.Errorf("%w: %s %s, but %s holds serial %d published from the catalog before it; restore catalog.db from a backup or from that copy ('cp %s %s'), then run the command again",
		ErrCatalogLost, p.Paths.Catalog(), what, pub, published, pub, p.Paths.Catalog())
}

// publishedSerial is the serial of the catalog published in dir, or 0 when
// there is none to read.
func publishedSerial(ctx context.Context, dir string) int64 {
	pub, err := catalog.OpenReadOnly(ctx, filepath.Join(dir, DBFile))
	if err != nil {
		return 0
	}
	defer pub.Close()
	meta, err := pub.Meta(ctx)
	if err != nil {
		return 0
	}
	return meta.Serial
}

// Adopt publishes a catalog.db that replaced the file a running server
// had open (a backup restored, an edited copy moved into place) under a
// serial above the one published when its own is not (raise): at the
// published serial with other rows, clients that synced that serial would
// never fetch it (and the server went on serving the pair signed before,
// its status clear even when the new file could not be signed: a
// review). The file is checked before its serial is written (raise), and
// a refusal (catalog.ErrUnpublishable) leaves it as it was.
func (p *Publisher) Adopt(ctx context.Context) error { return p.ensure(ctx, true) }

// Repair waits for any add or remove in progress (through the publish lock)
// and then makes the published snapshot match the working catalog.
func (p *Publisher) Repair(ctx context.Context) error { return p.ensure(ctx, false) }

// ensure is Repair, or with adopt Adopt: the working catalog raised when
// its serial equals the published one too. Nothing is written to a
// catalog that is refused: raise checks it before it writes, and Publish
// before it signs.
func (p *Publisher) ensure(ctx context.Context, adopt bool) error {
	key, db, release, err := p.change(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := p.raise(ctx, db, adopt); err != nil {
		return err
	}
	return EnsurePublished(ctx, db, key, p.Paths.PublicDir())
}
