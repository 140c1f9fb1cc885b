package publish

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/safedir"
	"github.com/distpac/distpac/internal/signing"
)

// RenewDue reports whether a publication should be re-signed at now: when
// less than half of validFor is left (so a client that syncs at any time
// finds a catalog with at least that much left, and a server that was down
// a while re-signs at once), or when more than validFor is left (the
// operator shortened catalog_valid_for).
func RenewDue(m catalog.Meta, validFor time.Duration, now time.Time) bool {
	left := m.ValidUntil.Sub(now)
	return left < validFor/2 || left > validFor
}

// Renew re-signs the catalog when RenewDue: the same packages under a new
// serial, with a new created and valid_until. The serial grows because the
// bytes change, and a client refuses a serial it holds with other bytes
// (two signed catalogs under one serial are a fork); a growing serial also
// lets the rollback check cover re-signings, so a client that saw a
// re-signed catalog refuses the one before it even while that is still
// valid. It reports the meta now published and whether it re-signed.
func (p *Publisher) Renew(ctx context.Context) (catalog.Meta, bool, error) {
	fl, err := p.lock(ctx)
	if err != nil {
		return catalog.Meta{}, false, err
	}
	defer fl.Unlock()
	key, err := LoadKey(p.Paths)
	if err != nil {
		return catalog.Meta{}, false, err
	}
	db, err := p.openCatalog(ctx)
	if err != nil {
		return catalog.Meta{}, false, err
	}
	defer db.Close()
	m, err := db.Meta(ctx)
	if err != nil {
		return catalog.Meta{}, false, err
	}
	if !RenewDue(m, p.validFor(), time.Now()) {
		return m, false, EnsurePublished(ctx, db, key, p.Paths.PublicDir())
	}
	// Not a new serial that cannot be published: the working catalog
	// would run ahead of the pair served, for nothing.
	if err := db.CheckPublishable(ctx); err != nil {
		return catalog.Meta{}, false, fmt.Errorf("re-sign catalog: %w", err)
	}
	if m, err = db.BumpSerial(ctx); err != nil {
		return catalog.Meta{}, false, err
	}
	if err := Publish(ctx, db, key, p.Paths.PublicDir()); err != nil {
		return catalog.Meta{}, false, fmt.Errorf("re-sign catalog: %w", err)
	}
	return m, true, nil
}

// Rotated says what Rotate did.
type Rotated struct {
	Statement signing.Rotation // Old, New, and the first serial New signs
}

// ErrNoKey: there is no signing key yet (to rotate, or to show).
var ErrNoKey = errors.New("no signing key yet")

// Rotate replaces the server's signing key. It makes a new key, a statement
// signed by the old key handing over to the new one from the next serial
// on, appends it to the published rotation chain, and publishes the catalog
// signed by the new key. Clients that pinned the old key (or any earlier
// one in the chain) verify the statements and follow.
//
// Crash safety, step by step: the new key is written beside the old one
// (signing.key.next); the serial is bumped; the chain is replaced
// atomically; the new key is renamed over the old one (the commit point);
// the catalog is published. A crash before the rename leaves the old key in
// force and a chain that may already name the new key: clients keep
// verifying with the old key, since they consult the chain only when that
// fails, and the next Rotate reuses signing.key.next and its statement. A
// crash after the rename leaves a published pair the new key does not
// verify; EnsurePublished (the running server, the next add) republishes it.
func (p *Publisher) Rotate(ctx context.Context) (Rotated, error) {
	fl, err := p.lock(ctx)
	if err != nil {
		return Rotated{}, err
	}
	defer fl.Unlock()
	if err := checkPrivate(p.Paths.SigningKey(), p.Paths.NextSigningKey()); err != nil {
		return Rotated{}, err
	}
	old, err := signing.Load(p.Paths.SigningKey())
	if errors.Is(err, os.ErrNotExist) {
		return Rotated{}, fmt.Errorf("%w, so nothing to rotate", ErrNoKey)
	}
	if err != nil {
		return Rotated{}, err
	}
	nextPath := p.Paths.NextSigningKey()
	next, err := signing.LoadOrCreate(nextPath)
	if err != nil {
		return Rotated{}, err
	}
	if next.Public().Equal(old.Public()) { // a crash after the rename, before the cleanup
		os.Remove(nextPath)
		if next, err = signing.LoadOrCreate(nextPath); err != nil {
			return Rotated{}, err
		}
	}
	db, err := p.openWorking(ctx)
	if err != nil {
		return Rotated{}, err
	}
	defer db.Close()
	// Before any statement is made (and before the serial is raised): the
	// new key's first catalog must be one clients take.
	if err := db.CheckPublishable(ctx); err != nil {
		return Rotated{}, fmt.Errorf("rotate key: nothing rotated: %w", err)
	}
	if err := p.raise(ctx, db, false); err != nil {
		return Rotated{}, err
	}

	dir := p.Paths.PublicDir()
	data, err := readRotations(dir)
	if err != nil {
		return Rotated{}, err
	}
	chain, _ := signing.ParseRotations(data) // readRotations checked the form
	var st signing.Rotation
	for _, r := range chain {
		if r.Old.Equal(old.Public()) && r.New.Equal(next.Public()) {
			st = r // made by a Rotate that crashed before the rename
		}
	}
	if st.Sig == nil {
		meta, err := db.BumpSerial(ctx)
		if err != nil {
			return Rotated{}, err
		}
		st = signing.NewRotation(old, next.Public(), meta.Serial, time.Now())
		chain = append(chain, st)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Rotated{}, fmt.Errorf("rotate key: %w", err)
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, RotationFile), signing.MarshalRotations(chain), 0o644); err != nil {
			return Rotated{}, fmt.Errorf("rotate key: publish the statement: %w", err)
		}
	}
	if err := os.Rename(nextPath, p.Paths.SigningKey()); err != nil {
		return Rotated{}, fmt.Errorf("rotate key: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(p.Paths.SigningKey())); err != nil {
		return Rotated{}, fmt.Errorf("rotate key: %w", err)
	}
	if err := Publish(ctx, db, next, dir); err != nil {
		return Rotated{st}, fmt.Errorf("key rotated, but publishing the catalog signed by the new key failed (a running server or the next add republishes it): %w", err)
	}
	return Rotated{st}, nil
}

// readRotations reads the published rotation chain: nil when the key never
// rotated, an error when the file is damaged (clients would refuse it).
func readRotations(dir string) ([]byte, error) {
	path := filepath.Join(dir, RotationFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key rotation statements: %w", err)
	}
	if _, err := signing.ParseRotations(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// ErrKeyLost: signing.key is gone while a catalog signed with it is
// published.
var ErrKeyLost = errors.New("the signing key was lost")

// LoadKey reads the server's signing key, making one only for a server
// that never published. A key made anew while a catalog is published (its
// key lost, or left behind when the data directory moved) signed the next
// catalog unasked, and every client refused it ("bad catalog signature")
// until each trusted the new key by hand, every mirror until restarted
// with it (a newcomer's run). NewKey makes one on purpose.
func LoadKey(sp paths.Server) (*signing.Key, error) {
	k, err := ReadKey(sp)
	if !errors.Is(err, ErrNoKey) {
		return k, err
	}
	return signing.LoadOrCreate(sp.SigningKey())
}

// ReadKey is LoadKey for a command that only shows the key (dist-server
// key): it makes none. No key yet is ErrNoKey; a key gone while a catalog
// signed with it is published is ErrKeyLost, as for LoadKey.
func ReadKey(sp paths.Server) (*signing.Key, error) {
	if err := checkPrivate(sp.SigningKey()); err != nil {
		return nil, err
	}
	k, err := signing.Load(sp.SigningKey())
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	sig := filepath.Join(sp.PublicDir(), SigFile)
	if _, err := os.Lstat(sig); err == nil {
		return nil, fmt.Errorf("%w: %s is gone, but %s is a catalog signed with it: a new key would have every client refuse the next catalog until each trusts the new key by hand; restore signing.key from a backup, or, if it is lost for good or stolen, make a new one with 'dist-server key new' and give it to your clients (README: When the server's key changes)",
			ErrKeyLost, sp.SigningKey(), sig)
	}
	return nil, fmt.Errorf("%w at %s", ErrNoKey, sp.SigningKey())
}

// NewKey makes a new signing key in place of a lost or stolen one, and
// refuses while there is one (dist-server key rotate replaces a key that
// is at hand, and clients follow it). When a catalog was published, it
// publishes the working catalog again, signed by the new key, under the
// next serial, as Rotate does; serial says which (0: nothing was
// published, so nothing is signed). Left to the next add, a running
// server went on serving the catalog the lost key signed, and that key
// at /key: a client given the new key (dist-client trust set) was refused
// the catalog it had just been told to trust, and one that trusted on
// first use again (trust reset) pinned the lost key, stolen perhaps (a
// newcomer's run). A failure after the key is made returns the key with
// the error: the next add, remove or start publishes the catalog signed
// by it (start's repair), and Publish withdraws the old key's rotation
// statements, which cannot lead to the new key.
func (p *Publisher) NewKey(ctx context.Context) (key *signing.Key, serial int64, err error) {
	fl, err := p.lock(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer fl.Unlock()
	if _, err := os.Lstat(p.Paths.SigningKey()); err == nil {
		// A stolen key is still there: the refusal said 'key new' was
		// for it and not how to get past the refusal (an operator's run).
		k := p.Paths.SigningKey()
		return nil, 0, fmt.Errorf("%s exists: 'dist-server key rotate' replaces a key you still hold, and clients follow the rotation; 'key new' is for a key that is lost or stolen: move a stolen one out of the way first ('mv %s %s.stolen'), then run 'dist-server key new' again", k, k, k)
	}
	if key, err = signing.LoadOrCreate(p.Paths.SigningKey()); err != nil {
		return nil, 0, err
	}
	dir := p.Paths.PublicDir()
	if _, err := os.Lstat(filepath.Join(dir, SigFile)); err != nil {
		return key, 0, nil // nothing published: no client pinned a key
	}
	db, err := p.openWorking(ctx)
	if err != nil {
		return key, 0, err
	}
	defer db.Close()
	// As Rotate: the new key's first catalog must be one clients take, and
	// above every serial published.
	if err := db.CheckPublishable(ctx); err != nil {
		return key, 0, err
	}
	if err := p.raise(ctx, db, false); err != nil {
		return key, 0, err
	}
	meta, err := db.BumpSerial(ctx)
	if err != nil {
		return key, 0, err
	}
	if err := Publish(ctx, db, key, dir); err != nil {
		return key, 0, err
	}
	return key, meta.Serial, nil
}

// checkPrivate refuses a signing key another user can read (ssh's rule for
// a private key: one put back by hand under umask 022 is 0644), or change,
// naming the file and the fix: a key others can read signs for them. It
// is checked where a key is read (add, remove, start, key, key rotate),
// not by every command: stop, status and list still work, so that an
// operator can stop the server before mending it.
func checkPrivate(keys ...string) error {
	c := safedir.New()
	for _, k := range keys {
		if err := c.CheckSecret("signing key", k); err != nil {
			return err
		}
	}
	return nil
}
