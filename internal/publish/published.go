package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/signing"
)

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
