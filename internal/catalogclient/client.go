// Package catalogclient is the client side of `dist-client sync` (DESIGN.md
// §6): a conditional GET of the signed catalog, signature verification
// against the pinned key (following the server's key rotation statements
// when it rotated), a row-by-row check, an expiry check that refuses a
// catalog past its valid_until (freeze), a serial check that refuses
// rollbacks, and an atomic replacement of the local copy.
//
// On disk, under the client directory:
//
//	catalog -> catalog-<serial>   symlink, swapped atomically (the commit point)
//	catalog-<serial>/packages.db  the verified catalog
//	catalog-<serial>/packages.db.sig
//	server.key                    the key pinned by trust on first use, trust set or a rotation
//	sync.json                     ETag, serial, server URL, trust root and time of the last sync
//
// The catalog and its signature change as a pair: each version lives in its
// own directory and only the symlink moves, so a reader or a crash sees
// either the old pair or the new one. Any failure before the swap leaves the
// previous catalog and sync.json as they were: synced_at moves only when a
// sync accepted a catalog as valid and newer than or equal to the one held.
//
// Sync expects its caller to hold the client state lock: it removes stray
// temporary files of earlier, interrupted syncs.
package catalogclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/signing"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrNoCatalog: no catalog has been synced into the directory yet.
	ErrNoCatalog = errors.New("no catalog yet: run `dist-client sync`")
	// ErrRollback: the server offered a catalog older than the one held.
	ErrRollback = errors.New("refusing a rollback")
	// ErrSameSerial: the server offered the serial held, with other bytes.
	ErrSameSerial = errors.New("same serial, different content")
	// ErrBadSignature: the signature does not verify with the pinned key.
	ErrBadSignature = fmt.Errorf("bad catalog signature: %w", signing.ErrBadSignature)
	// ErrTruncated: the connection ended before the announced length, or
	// the body ended at a Content-Length shorter than what it holds says
	// it is (a catalog's SQLite header, a signature's 64 bytes).
	ErrTruncated = errors.New("truncated download")
	// ErrTooLarge: the catalog or signature exceeds the size limit.
	ErrTooLarge = errors.New("too large")
	// ErrNotCatalog: the server sent something that is not a catalog.
	ErrNotCatalog = errors.New("server sent something that is not a catalog")
	// ErrChanged: the server published again between every attempt to
	// fetch a matching catalog and signature.
	ErrChanged = errors.New("catalog changed on the server while downloading")
	// ErrExpired: the catalog is past its valid_until (see ExpiredError).
	ErrExpired = errors.New("catalog expired")
	// ErrRotation: the catalog is signed by another key and the server's
	// key rotation statements do not lead there from the pinned key.
	ErrRotation = errors.New("key rotation refused")
)

// File and directory names under the client directory.
const (
	catalogLink = "catalog"
	versionDir  = "catalog-" // + serial
	dbFile      = "packages.db"
	sigFile     = "packages.db.sig"
	// rotationFile is kept only with Options.KeepRotation.
	rotationFile = "packages.db.rotation"
	// droppedFile lists, as a JSON array of base64 strings, the web
	// seeds the catalog names past catalog.MaxCatalogWebSeeds, which reads
	// leave out (Open); only beside a catalog that names them. The list
	// follows from the catalog, but only by decoding every row's torrent
	// (0.35 s for 10,000 rows, catalog/write.go), which every Open would
	// pay: sync, whose check decodes them all anyway, writes it. Base64,
	// because a URL is the publisher's bytes, not always UTF-8, and JSON
	// strings would turn those into U+FFFD: the URLs read back matched
	// none of the torrents', and none was left out.
	droppedFile = "web-seeds-dropped.json"
	keyFile     = "server.key"
	stateFile   = "sync.json"
	tmpPrefix   = ".sync-tmp-" // every temporary name starts with this
)

// The wire contract shared with internal/catalogserver. The client package
// owns it, so that the client binary links no server code.
const (
	PathCatalog        = "/packages.db"          // the catalog, with a strong ETag
	PathSignature      = "/packages.db.sig"      // its ed25519 signature, with the catalog's ETag
	PathKey            = "/key"                  // the server's public key, text form, for trust on first use
	PathRotation       = "/packages.db.rotation" // the server's key rotation statements (signing.ParseRotations)
	HeaderSerial       = "X-Distpac-Serial"      // the served catalog's serial, on both files
	ContentTypeCatalog = "application/vnd.sqlite3"
)

// DefaultMaxSize is the largest catalog accepted when Options.MaxSize is 0.
const DefaultMaxSize = 256 << 20

// maxSigSize bounds the signature download; an ed25519 signature is 64 bytes.
const maxSigSize = 1 << 10

// attempts is how many times Sync fetches the catalog and signature when a
// publication lands between the two requests.
const attempts = 3

// Options configure Sync.
type Options struct {
	ServerURL string // base URL, e.g. http://127.0.0.1:9090
	// ServerURLs, when not empty, replaces ServerURL: servers of the same
	// signed catalog (a publisher and its mirrors), tried in order until
	// one gives a catalog that passes every check.
	ServerURLs []string
	// Only, when set, is the one server of ServerURLs a sync tries (sync
	// --from): a primary back up after an outage stays behind its mirrors
	// for ten minutes (servers.json), and a sync took a lagging mirror's
	// catalog again. Its answer clears its failure as any sync's does.
	Only string
	// KeepRotation keeps the server's key rotation statements beside each
	// catalog accepted (packages.db.rotation in its directory), for
	// dist-server mirror, which serves them again byte for byte. The
	// statements must lead to the key that signed the catalog.
	KeepRotation bool
	Dir          string            // client state directory
	Key          signing.PublicKey // from client.yaml; nil = dir/server.key, or pin the first key seen (TOFU)
	// KeySource names the setting that gives Key (dist-server mirror's
	// --key), for the hints when no key is set or the catalog's signature
	// does not match the one in force; "" = server_key in client.yaml.
	KeySource string
	// ConfigFile is the client's configuration file, named in advice
	// about server_key (KeySource unset); "" = "client.yaml".
	ConfigFile string
	HTTPClient *http.Client     // nil = DefaultHTTPClient()
	MaxSize    int64            // largest catalog accepted; 0 = DefaultMaxSize
	Logger     *slog.Logger     // nil discards logs
	Now        func() time.Time // the clock expiry is judged by; nil = time.Now

	// hurry is set by Sync while another server is left to try: a catalog
	// download that would take long is then given up (errSlow).
	hurry bool
	// configured is every server of ServerURLs (or ServerURL), set by Sync
	// for each server's sync: advice about the pinned key names them.
	configured []string
}

// Result says what a Sync did.
type Result struct {
	Updated  bool  // false when the server said 304 or the bytes were identical
	Serial   int64 // serial of the catalog now held
	Packages int   // package versions in it
	// Pinned is non-nil when this sync pinned the server's key by trust on
	// first use; the caller must show it loudly so the user can check it.
	Pinned signing.PublicKey
	// Rotated lists the key rotation statements this sync followed from
	// the pinned or configured key, oldest first: the catalog is signed by
	// the last one's New. With a pinned key, server.key now holds that key;
	// a key from client.yaml is not changed, and the caller should tell
	// the user to update it.
	Rotated []signing.Rotation
	// ValidUntil is when the catalog now held expires.
	ValidUntil time.Time
	// Server is the URL the catalog came from (or that said 304), its
	// password masked (redact.URL), as every URL a Sync reports is: the
	// caller prints them.
	Server string
	// Failed lists the servers tried before Server, and what each did.
	Failed []ServerError
	// Behind lists the servers that gave a valid catalog older than the
	// one held (a mirror that has not caught up yet): not taken, and not
	// failed. When no server gave a newer catalog (or the same), the
	// catalog held is kept and the sync succeeds: Server is "" then,
	// Updated false, and Serial the one held; the caller says that each
	// of these only lags (Behind.Note).
	Behind []Behind
	// Demoted lists the servers listed before Server that were not tried,
	// having failed a recent sync.
	Demoted []Demoted
	// WebSeeds counts the distinct web seeds the catalog's torrents name,
	// and DroppedWebSeeds those past catalog.MaxCatalogWebSeeds, which
	// this client leaves out of its downloads, when this sync took a new
	// catalog: the caller warns once.
	WebSeeds        int
	DroppedWebSeeds []string
}

// DroppedWebSeedsNote is the warning, said once at the sync that took the
// catalog, that it names more web seeds than a client uses.
func DroppedWebSeedsNote(res Result) string {
	return fmt.Sprintf("the catalog's torrents name %d distinct web seeds, more than the %d a client uses: the %d past them (in the order of the packages' names and versions) are left out of downloads; its publisher's dist-server refuses to publish such a catalog now",
		res.WebSeeds, catalog.MaxCatalogWebSeeds, len(res.DroppedWebSeeds))
}

// ServerError is what one server did in a Sync that tried several.
type ServerError struct {
	URL  string // masked (redact.URL)
	Took time.Duration
	Err  error
}

func (e ServerError) Error() string {
	return fmt.Sprintf("%s (after %s): %s", e.URL, e.Took.Round(time.Millisecond), strings.TrimPrefix(e.Err.Error(), "sync: "))
}

func (e ServerError) Unwrap() error { return e.Err }

// Passed says what the server did in a sync that another server then
// served: its error without the advice about the client's key (where it
// came from, how to change it) that a refused signature or key ends in.
// That advice is about a key not in question once another server's
// catalog verified with it, and following it for the failed server (trust
// set, a new server_key) would hand the client over to that server.
func (e ServerError) Passed() string {
	return fmt.Sprintf("%s failed (after %s): %s", e.URL, e.Took.Round(time.Millisecond), e.Reason())
}

// Reason is why the server failed, as Passed says it after the URL and
// the time: without the advice about the client's key.
func (e ServerError) Reason() string {
	msg := e.Err.Error()
	var a *advisedError
	if errors.As(e.Err, &a) {
		msg = strings.Replace(msg, a.Error(), a.err.Error(), 1)
	}
	return strings.TrimPrefix(msg, "sync: ")
}

// advisedError is an error that ends in advice about the client's key,
// kept apart so that ServerError.Passed can leave it out.
type advisedError struct {
	err    error
	advice string
}

func withAdvice(err error, advice string) error { return &advisedError{err, advice} }

func (e *advisedError) Error() string { return e.err.Error() + "; " + e.advice }
func (e *advisedError) Unwrap() error { return e.err }

// ServersError is a Sync in which every server failed; it matches each
// server's error with errors.Is and errors.As.
type ServersError []ServerError

func (e ServersError) Error() string {
	lines := make([]string, len(e))
	for i, f := range e {
		lines[i] = "  " + f.Error()
	}
	return fmt.Sprintf("sync: none of the %d servers gave a usable catalog:\n%s", len(e), strings.Join(lines, "\n"))
}

func (e ServersError) Unwrap() []error {
	errs := make([]error, len(e))
	for i, f := range e {
		errs[i] = f
	}
	return errs
}

// Path returns the path of the current verified catalog file
// (dir/catalog/packages.db), or ErrNoCatalog.
func Path(dir string) (string, error) {
	p := filepath.Join(dir, catalogLink, dbFile)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", ErrNoCatalog
		}
		return "", fmt.Errorf("catalog: %w", err)
	}
	return p, nil
}

// TrustedFiles are the files in dir that the client believes as they are,
// without checking them again: the pinned key (what every sync verifies
// against), the sync state (the serial below which a catalog is refused as
// a rollback) and the current catalog with its signature (verified by the
// sync that put them there; every later command reads them as they are).
// Another user who could write one could have their packages installed:
// the caller refuses them then (safedir.CheckFile).
func TrustedFiles(dir string) []string {
	return []string{
		filepath.Join(dir, keyFile),
		filepath.Join(dir, originFile), // its words are in the advice a refused catalog gives
		filepath.Join(dir, stateFile),
		filepath.Join(dir, catalogLink, dbFile),
		filepath.Join(dir, catalogLink, sigFile),
		filepath.Join(dir, catalogLink, rotationFile),
		filepath.Join(dir, catalogLink, droppedFile), // which web seeds reads leave out
	}
}

// Open opens the current catalog read-only, its reads leaving out the web
// seeds past catalog.MaxCatalogWebSeeds.
func Open(ctx context.Context, dir string) (*catalog.DB, error) {
	p, err := Path(dir)
	if err != nil {
		return nil, err
	}
	return openCatalog(ctx, p)
}

// openCatalog opens the catalog at path (a version directory's
// packages.db) read-only, with the web seeds its sync found past
// catalog.MaxCatalogWebSeeds (droppedFile beside it) left out of its
// reads.
func openCatalog(ctx context.Context, path string) (*catalog.DB, error) {
	db, err := catalog.OpenReadOnly(ctx, path)
	if err != nil {
		return nil, err
	}
	// Each URL listed is in a torrent of the catalog, n bytes there in
	// at least n+2 ("n:..."), at most 4(n+2)/3+3 bytes here (base64,
	// quotes, comma): 3 times the catalog's size bounds the file.
	limit := int64(DefaultMaxSize)
	if fi, err := os.Stat(path); err == nil {
		limit = max(limit, 3*fi.Size()+2)
	}
	b, err := fsutil.ReadRegular(filepath.Join(filepath.Dir(path), droppedFile), limit, false)
	if errors.Is(err, os.ErrNotExist) {
		return db, nil
	}
	var raw [][]byte
	if err == nil {
		if err = json.Unmarshal(b, &raw); err != nil {
			err = fmt.Errorf("%s: %w", filepath.Join(filepath.Dir(path), droppedFile), err)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("catalog: %w (dist-client sync writes it again)", err)
	}
	dropped := make([]string, len(raw))
	for i, u := range raw {
		dropped[i] = string(u)
	}
	db.DropWebSeeds(dropped)
	return db, nil
}
