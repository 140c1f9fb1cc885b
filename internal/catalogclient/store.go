package catalogclient

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/signing"
)

// syncState is sync.json.
type syncState struct {
	ETag      string    `json:"etag"`
	Serial    int64     `json:"serial"`
	ServerURL string    `json:"server_url"` // its password masked (redact.URL): the file is world-readable
	SyncedAt  time.Time `json:"synced_at"`
	// Key is the trust root the held catalog was accepted under (the
	// pinned or configured key the next sync starts from). Empty in files
	// written before it existed: their history is kept.
	Key string `json:"key,omitempty"`
}

// held is what the client has before a sync.
type held struct {
	present  bool // a current catalog exists and opens
	serial   int64
	packages int
	sum      [sha256.Size]byte
	meta     catalog.Meta
	state    syncState
	// trusted: the held history (serial floor, ETag) was made under the key
	// in force now; false after `trust set` or `trust reset`.
	trusted bool
}

// floor is the lowest serial that is not a rollback. Without a usable
// catalog, sync.json still remembers the serial last held, so deleting or
// damaging the catalog does not open the door to an older one.
func (h held) floor() int64 {
	if h.present {
		return h.serial
	}
	return h.state.Serial
}

// catalogInfo is what verify learnt about a downloaded catalog.
type catalogInfo struct {
	serial   int64
	packages int
	sum      [sha256.Size]byte
	meta     catalog.Meta
	signer   signing.PublicKey  // the key that signed it
	rotated  []signing.Rotation // statements followed to reach signer
	checked  catalog.Checked    // what Check learnt: the web seeds dropped
}

// heldState reads sync.json and the current catalog. A damaged catalog or
// sync.json is logged and treated as absent, so that a sync can repair it.
// key is the key in force (nil before trust on first use).
func (s *syncer) heldState(ctx context.Context, key signing.PublicKey) (held, error) {
	var h held
	statePath := filepath.Join(s.dir, stateFile)
	if b, err := fsutil.ReadRegular(statePath, maxStateFile, true); err == nil {
		if err := json.Unmarshal(b, &h.state); err != nil {
			s.log.Warn("ignoring unreadable sync state", "path", statePath, "err", err)
			h.state = syncState{}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return held{}, fmt.Errorf("sync: read sync state: %w", err)
	}
	h.trusted = h.state.Key == "" || key != nil && h.state.Key == key.String()

	path, err := Path(s.dir)
	if errors.Is(err, ErrNoCatalog) {
		return h, nil
	}
	if err != nil {
		return held{}, fmt.Errorf("sync: %w", err)
	}
	info, err := inspect(ctx, path)
	if err != nil && ctx.Err() != nil {
		// Stopping, not a damaged catalog: a mirror stopped mid-round
		// logged "current catalog is unusable ... context canceled".
		return held{}, fmt.Errorf("sync: %w", ctx.Err())
	}
	if err != nil {
		s.log.Warn("current catalog is unusable; syncing a fresh one", "path", path, "err", err)
		return h, nil
	}
	h.present, h.serial, h.packages, h.sum, h.meta = true, info.serial, info.packages, info.sum, info.meta
	return h, nil
}

// inspect opens a catalog file read-only and reads its serial, package
// count and SHA-256.
func inspect(ctx context.Context, path string) (catalogInfo, error) {
	var info catalogInfo
	sum, err := fileSum(path)
	if err != nil {
		return info, err
	}
	info.sum = sum
	// With the web seeds it leaves out: a droppedFile damaged makes the
	// catalog unusable, and the sync installs it again, writing the file
	// anew (it found the same catalog held, and every read failed on the
	// file until the publisher signed another).
	db, err := openCatalog(ctx, path)
	if err != nil {
		return info, err
	}
	defer db.Close()
	m, err := db.Meta(ctx)
	if err != nil {
		return info, err
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		return info, err
	}
	info.serial, info.packages, info.meta = m.Serial, len(pkgs), m
	return info, nil
}

func fileSum(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := fsutil.OpenRegular(path, true)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	sumInto(&sum, h)
	return sum, nil
}

// verify trusts nothing about a download until the signature verifies over
// its exact bytes, and then still checks every row, since a signed catalog
// from a buggy publisher must not break the client either. A catalog that
// the pinned key did not sign is accepted only when the server's key
// rotation statements lead from the pinned key to the key that did.
func (s *syncer) verify(ctx context.Context, dl *download, key signing.PublicKey, keyHint string, tofu bool) (catalogInfo, error) {
	info := catalogInfo{signer: key, sum: dl.sum}
	// Read from the file, not into memory: it may be MaxSize bytes, and
	// nothing says yet that its publisher made it (signing.VerifyFile).
	if err := signing.VerifyFile(key, dl.tmp, dl.sig); err != nil {
		if !errors.Is(err, signing.ErrBadSignature) {
			return catalogInfo{}, fmt.Errorf("sync: verify %s with key %s: %w", dl.endpoint, key, err)
		}
		detail := "" // e.g. "signature has 20 bytes, want 64" (fetchSignature refuses those first)
		if err != signing.ErrBadSignature {
			detail = ": " + strings.TrimSuffix(err.Error(), ": "+signing.ErrBadSignature.Error())
		}
		badSig := withAdvice(fmt.Errorf("sync: verify %s with key %s%s: %w", dl.endpoint, key, detail, ErrBadSignature), keyHint)
		if tofu || detail != "" {
			return catalogInfo{}, badSig
		}
		path, err := s.followRotation(ctx, key, keyHint, dl.tmp, dl.sig)
		if err != nil {
			return catalogInfo{}, err
		}
		if path == nil {
			return catalogInfo{}, badSig
		}
		info.signer, info.rotated = path[len(path)-1].New, path
	}

	db, err := catalog.OpenReadOnly(ctx, dl.tmp)
	if err != nil {
		return catalogInfo{}, fmt.Errorf("sync: %s is signed but unreadable, refusing it: %w", dl.endpoint, err)
	}
	defer db.Close()
	if info.checked, err = db.Inspect(ctx); err != nil {
		return catalogInfo{}, fmt.Errorf("sync: %s is signed but inconsistent, refusing it: %w", dl.endpoint, err)
	}
	if info.meta, err = db.Meta(ctx); err != nil {
		return catalogInfo{}, fmt.Errorf("sync: %s: %w", dl.endpoint, err)
	}
	pkgs, err := db.All(ctx)
	if err != nil {
		return catalogInfo{}, fmt.Errorf("sync: %s: %w", dl.endpoint, err)
	}
	info.serial, info.packages = info.meta.Serial, len(pkgs)
	return info, nil
}

// install moves a verified pair into catalog-<serial>/ and swaps the
// catalog symlink to it; it returns that directory's name. The swap is the
// commit point: before it, a failure removes what was staged and the old
// pair stays current. Where catalog-<serial> is taken (a catalog of the
// same serial replaced after a change of trust or a repair, or one left by
// an interrupted sync) the new one is catalog-<serial>.<n>: the current
// catalog is never removed before the swap, so readers without the lock
// and a crash at any point find one.
func (s *syncer) install(dl *download, info catalogInfo) (current string, err error) {
	serial := info.serial
	final, err := freeVersionDir(s.dir, serial)
	if err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	stage, err := os.MkdirTemp(s.dir, tmpPrefix+"catalog-")
	if err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()

	if err := os.Chmod(dl.tmp, 0o644); err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	if err := os.Rename(dl.tmp, filepath.Join(stage, dbFile)); err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(stage, sigFile), dl.sig, 0o644); err != nil {
		return "", fmt.Errorf("sync: install signature: %w", err)
	}
	if dl.rotation != nil {
		if err := fsutil.WriteFileAtomic(filepath.Join(stage, rotationFile), dl.rotation, 0o644); err != nil {
			return "", fmt.Errorf("sync: install key rotation statements: %w", err)
		}
	}
	if d := info.checked.DroppedWebSeeds; len(d) > 0 {
		raw := make([][]byte, len(d)) // base64: the URLs' bytes as they are (droppedFile)
		for i, u := range d {
			raw[i] = []byte(u)
		}
		b, _ := json.Marshal(raw) // a [][]byte always marshals
		if err := fsutil.WriteFileAtomic(filepath.Join(stage, droppedFile), b, 0o644); err != nil {
			return "", fmt.Errorf("sync: install catalog: %w", err)
		}
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	if err := os.Rename(stage, final); err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	stage = final // from here a failure removes the unused version directory

	tmpLink := filepath.Join(s.dir, tmpPrefix+"link-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Symlink(filepath.Base(final), tmpLink); err != nil {
		return "", fmt.Errorf("sync: install catalog: %w", err)
	}
	if err := os.Rename(tmpLink, filepath.Join(s.dir, catalogLink)); err != nil {
		os.Remove(tmpLink)
		return "", fmt.Errorf("sync: install catalog: swap %s: %w", filepath.Join(s.dir, catalogLink), err)
	}
	committed = true
	if err := fsutil.SyncDir(s.dir); err != nil {
		// The swap happened; only its durability across a crash is in doubt.
		s.log.Warn("catalog installed but the directory could not be synced", "dir", s.dir, "err", err)
	}
	return filepath.Base(final), nil
}

// freeVersionDir is the path for a catalog of serial in dir:
// catalog-<serial>, or catalog-<serial>.<n> for the least n free when that
// is taken.
func freeVersionDir(dir string, serial int64) (string, error) {
	base := filepath.Join(dir, versionDir+strconv.FormatInt(serial, 10))
	final := base
	for n := 1; n <= 1000; n++ {
		if _, err := os.Lstat(final); errors.Is(err, fs.ErrNotExist) {
			return final, nil
		} else if err != nil {
			return "", err
		}
		final = base + "." + strconv.Itoa(n)
	}
	return "", fmt.Errorf("no free name after %s.1000 (remove the catalog-* directories the catalog link does not point to)", base)
}

// recordSync writes sync.json. It runs after the commit point, where a
// failure costs only an extra download next time, so it is logged.
func (s *syncer) recordSync(etag string, serial int64, root signing.PublicKey) {
	st := syncState{ETag: etag, Serial: serial, ServerURL: s.server(), SyncedAt: s.now().UTC().Truncate(time.Second), Key: root.String()}
	b, err := json.MarshalIndent(st, "", "  ")
	if err == nil {
		err = fsutil.WriteFileAtomic(filepath.Join(s.dir, stateFile), append(b, '\n'), 0o644)
	}
	if err != nil {
		s.log.Warn("could not record the sync state", "path", filepath.Join(s.dir, stateFile), "err", err)
	}
}

// removeOldVersions deletes every catalog-<serial>[.<n>] directory but
// keep. Readers that still have an old file open keep reading it (unlinked
// files live on while open).
func (s *syncer) removeOldVersions(keep string) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		s.log.Warn("could not list old catalogs", "dir", s.dir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, versionDir)
		if !ok || name == keep {
			continue
		}
		serial, n, _ := strings.Cut(rest, ".")
		if _, err := strconv.ParseInt(serial, 10, 64); err != nil {
			continue // not ours
		}
		if _, err := strconv.Atoi(cmp.Or(n, "0")); err != nil {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, name)); err != nil {
			s.log.Warn("could not remove an old catalog", "path", filepath.Join(s.dir, name), "err", err)
		}
	}
}

// removeStrays deletes temporary files and directories of syncs that were
// interrupted (killed, or the machine went down).
func (s *syncer) removeStrays() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			s.log.Debug("removing a leftover of an interrupted sync", "name", e.Name())
			os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
}

// Held is the catalog held in a client directory, as the bytes the server
// sent: what dist-server mirror serves again.
type Held struct {
	DB, Sig []byte
	// Rotation is the server's key rotation statements kept with the
	// catalog (Options.KeepRotation); nil when none were.
	Rotation []byte
	Meta     catalog.Meta
	Packages []catalog.Package
}

// readHeldFiles reads the bytes of the catalog held in dir, its signature
// and kept rotation statements, from one version directory, which it
// returns too.
func readHeldFiles(dir string) (h Held, vdir string, err error) {
	if vdir, err = heldDir(dir); err != nil {
		return Held{}, "", err
	}
	// Bounded as a sync bounds them (a held catalog was accepted under
	// DefaultMaxSize).
	if h.DB, err = fsutil.ReadRegular(filepath.Join(vdir, dbFile), DefaultMaxSize, true); err != nil {
		return Held{}, "", fmt.Errorf("catalog: %w", err)
	}
	if h.Sig, err = fsutil.ReadRegular(filepath.Join(vdir, sigFile), maxSigSize, true); err != nil {
		return Held{}, "", fmt.Errorf("catalog: %w", err)
	}
	if h.Rotation, err = fsutil.ReadRegular(filepath.Join(vdir, rotationFile), signing.MaxRotationFile, true); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Held{}, "", fmt.Errorf("catalog: %w", err)
	}
	return h, vdir, nil
}

// heldDir is the version directory the catalog link of dir names.
func heldDir(dir string) (string, error) {
	target, err := os.Readlink(filepath.Join(dir, catalogLink))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoCatalog
	}
	if err != nil {
		return "", fmt.Errorf("catalog: %w", err)
	}
	return filepath.Join(dir, filepath.Base(target)), nil
}

// ReadHeld reads the catalog held in dir, with its signature and kept
// rotation statements, all from one version directory (a sync swapping
// the link meanwhile does not mix two). It does not verify the signature
// again: only a sync puts a pair there, after verifying it.
func ReadHeld(ctx context.Context, dir string) (Held, error) {
	h, vdir, err := readHeldFiles(dir)
	if err != nil {
		return Held{}, err
	}
	db, err := openCatalog(ctx, filepath.Join(vdir, dbFile))
	if err != nil {
		return Held{}, err
	}
	defer db.Close()
	if h.Meta, err = db.Meta(ctx); err != nil {
		return Held{}, err
	}
	if h.Packages, err = db.All(ctx); err != nil {
		return Held{}, err
	}
	return h, nil
}
