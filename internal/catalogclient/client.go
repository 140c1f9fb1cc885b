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
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/httpbound"
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
	keyFile      = "server.key"
	stateFile    = "sync.json"
	tmpPrefix    = ".sync-tmp-" // every temporary name starts with this
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
	KeySource  string
	HTTPClient *http.Client     // nil = DefaultHTTPClient()
	MaxSize    int64            // largest catalog accepted; 0 = DefaultMaxSize
	Logger     *slog.Logger     // nil discards logs
	Now        func() time.Time // the clock expiry is judged by; nil = time.Now

	// hurry is set by Sync while another server is left to try: a catalog
	// download that would take long is then given up (errSlow).
	hurry bool
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
	// Server is the URL the catalog came from (or that said 304).
	Server string
	// Failed lists the servers tried before Server, and what each did.
	Failed []ServerError
}

// ServerError is what one server did in a Sync that tried several.
type ServerError struct {
	URL  string
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
	msg := e.Err.Error()
	var a *advisedError
	if errors.As(e.Err, &a) {
		msg = strings.Replace(msg, a.Error(), a.err.Error(), 1)
	}
	return fmt.Sprintf("%s failed (after %s): %s", e.URL, e.Took.Round(time.Millisecond), strings.TrimPrefix(msg, "sync: "))
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

// Per-server timeouts. A server that is down must cost seconds, so that
// the next of server_urls gets its turn: a refused connection fails at
// once; a host that drops the SYN costs dialTimeout; a server (or a proxy
// in front of a dead one) that accepts and never answers costs
// replyTimeout (a catalog server answers from memory in a millisecond, a
// static server or CDN from disk or its origin well within a second); a
// body that stops flowing costs bodyIdle, and one that trickles in under
// bodyMinRate on average is given up after bodySlowAfter. The transfer
// itself has no fixed deadline (the context bounds it): a large catalog on
// a slow link must not fail on one (720 KB, a thousand packages, takes
// three minutes at bodyMinRate).
//
// While another server is left to try, a catalog download that after
// hurryAfter is on course to take over hurryLimit in all (by its
// Content-Length, or a guess without one, and the rate so far) is set
// aside (errSlow) for the next
// server, and tried again, waited for, only if no other server gives a
// catalog. A server that sent a 256 MiB Content-Length and 6 KB/s held a
// sync for hours, the mirror next in server_urls untried.
//
// From the last server the same check gives up at catalogTimeLimit: a
// server that claimed 50 MiB and sent 5 KB/s, over bodyMinRate, held a
// sync, and the client's lock every install waits for, for hours (an
// attacker's run; the worst case was 256 MiB at 4 KiB/s, 18 hours). A
// thousand packages (720 KB) take 20 minutes at 600 bytes/s.
const (
	dialTimeout      = 5 * time.Second
	replyTimeout     = 5 * time.Second
	bodyIdle         = 10 * time.Second
	bodySlowAfter    = 30 * time.Second
	bodyMinRate      = 4 << 10 // bytes/s
	hurryAfter       = 5 * time.Second
	hurryLimit       = time.Minute
	catalogTimeLimit = 20 * time.Minute
)

// DefaultHTTPClient bounds connecting and waiting for the first byte of
// the reply (see dialTimeout); bodies are bounded by bodyIdle as read.
func DefaultHTTPClient() *http.Client {
	return &http.Client{CheckRedirect: httpbound.CheckRedirect, Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: replyTimeout,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
}

// syncer carries one Sync's settings, for one server.
type syncer struct {
	base         *url.URL
	dir          string
	client       *http.Client
	maxSize      int64
	log          *slog.Logger
	now          func() time.Time
	keepRotation bool
	hurry        bool
	keySource    string
}

// Sync brings the catalog in opts.Dir up to date with the server (see the
// package documentation for the steps and the guarantees). With several
// servers it tries each in turn, every one with all the checks, until one
// gives a catalog it accepts (Result.Server, with the ones that failed
// before in Result.Failed); when none does, the error is a ServersError
// naming each server and what it did. With one server the error is that
// server's.
func Sync(ctx context.Context, opts Options) (Result, error) {
	servers := opts.ServerURLs
	if len(servers) == 0 {
		servers = []string{opts.ServerURL}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	var fails failures
	if len(servers) > 1 {
		fails = readFailures(opts.Dir)
		servers = fails.order(servers, now())
	}
	var failed ServersError
	// A server too slow to be worth waiting for while another is untried
	// (errSlow) gets its turn again after the others, waited for then.
	var slow []string
	try := func(u string, hurry bool) (Result, error) {
		one := opts
		one.ServerURL, one.ServerURLs, one.hurry = u, nil, hurry
		start := time.Now()
		res, err := syncOne(ctx, one)
		if err == nil {
			res.Server, res.Failed = u, failed
			if len(servers) > 1 {
				fails.record(opts.Dir, servers, failed, u, now())
			}
			return res, nil
		}
		if len(servers) == 1 || ctx.Err() != nil {
			return Result{}, err
		}
		failed = append(failed, ServerError{URL: u, Took: time.Since(start), Err: err})
		if errors.Is(err, errSlow) {
			slow = append(slow, u)
		}
		if opts.Logger != nil {
			opts.Logger.Warn("server failed; trying the next", "server", u, "err", err)
		}
		return Result{}, err
	}
	// The servers, then those set aside, in passes; each pass waits for its
	// last server, which is then not set aside again, so the passes end.
	for pass := servers; len(pass) > 0; pass, slow = slow, nil {
		for i, u := range pass {
			res, err := try(u, i < len(pass)-1)
			if err == nil {
				return res, nil
			}
			if len(servers) == 1 || ctx.Err() != nil {
				return Result{}, err
			}
		}
	}
	if ctx.Err() == nil && len(servers) > 1 {
		fails.record(opts.Dir, servers, failed, "", now())
	}
	return Result{}, failed
}

// syncOne syncs from opts.ServerURL.
func syncOne(ctx context.Context, opts Options) (Result, error) {
	s, err := newSyncer(opts)
	if err != nil {
		return Result{}, err
	}
	if opts.HTTPClient == nil {
		// Its own transport: its kept-alive connection would idle for
		// IdleConnTimeout after the sync, one more for every sync of a
		// long-running process (a mirror syncs every minute).
		defer s.client.CloseIdleConnections()
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("sync: %w", err)
	}
	s.removeStrays()

	key, keySource, err := s.pinnedKey(opts.Key)
	if err != nil {
		return Result{}, err
	}
	tofu := key == nil
	held, err := s.heldState(ctx, key)
	if err != nil {
		return Result{}, err
	}

	dl, err := s.fetchConsistent(ctx, held, tofu)
	if err != nil {
		return Result{}, err
	}
	if dl == nil { // 304 Not Modified
		if held.meta.Expired(s.now()) {
			return Result{}, fmt.Errorf("sync: %w", &ExpiredError{Source: s.url(PathCatalog), Meta: held.meta, Now: s.now()})
		}
		s.log.Debug("catalog not modified", "serial", held.serial)
		s.recordSync(held.state.ETag, held.serial, key)
		return Result{Serial: held.serial, Packages: held.packages, ValidUntil: held.meta.ValidUntil}, nil
	}
	defer dl.remove()

	if tofu {
		if key, err = s.fetchKey(ctx); err != nil {
			return Result{}, err
		}
	}
	info, err := s.verify(ctx, dl, key, keySource, tofu)
	if err != nil {
		return Result{}, err
	}
	if s.keepRotation {
		if dl.rotation, err = s.fetchRotation(ctx, info.signer); err != nil {
			return Result{}, err
		}
	}
	if info.meta.Expired(s.now()) {
		return Result{}, fmt.Errorf("sync: %w", &ExpiredError{Source: dl.endpoint, Meta: info.meta, Now: s.now()})
	}
	if err := checkSerial(held, info, dl.endpoint); err != nil {
		return Result{}, err
	}

	res := Result{Serial: info.serial, Packages: info.packages, Rotated: info.rotated, ValidUntil: info.meta.ValidUntil}
	root := key // the key the next sync starts from
	switch {
	case tofu:
		// Pinned before the swap, so a crash never leaves a catalog verified
		// by a key that is not recorded.
		if err := s.pinKey(key, "pinned the server's key on first use"); err != nil {
			return Result{}, err
		}
		res.Pinned = key
	case len(info.rotated) > 0 && opts.Key == nil:
		root = info.signer
		if err := s.pinKey(root, "followed the server's key rotation"); err != nil {
			return Result{}, err
		}
	}
	// The same bytes as held (e.g. from a mirror with other ETags) need no
	// move. (The same serial with other bytes passed checkSerial only under
	// a new trust root, and replaces the held catalog.)
	if !held.present || info.serial != held.serial || info.sum != held.sum {
		current, err := s.install(dl, info.serial)
		if err != nil {
			if tofu {
				os.Remove(filepath.Join(s.dir, keyFile)) // pin only with a catalog it verified
			}
			return Result{}, err
		}
		res.Updated = true
		s.removeOldVersions(current)
		s.log.Debug("catalog updated", "serial", info.serial, "packages", info.packages)
	}
	s.recordSync(dl.dbETag, info.serial, root)
	return res, nil
}

// fetchConsistent downloads a catalog and signature from one publication,
// retrying when a publication lands between the two requests. It returns
// nil, nil when the held catalog is current (304).
func (s *syncer) fetchConsistent(ctx context.Context, h held, tofu bool) (*download, error) {
	// A 304 vouches for the held catalog only as far as the held catalog
	// was verified with the key in force now: after a trust change (or to
	// pin a key on first use) the catalog is fetched and verified again.
	etag := ""
	if h.present && h.trusted && !tofu && h.state.ServerURL == s.base.String() {
		etag = h.state.ETag
	}
	for attempt := 1; ; attempt++ {
		dl, err := s.fetchPair(ctx, etag)
		if err != nil {
			return nil, fmt.Errorf("sync: %w", err)
		}
		if dl == nil || !dl.mismatched() {
			return dl, nil
		}
		dl.remove()
		if attempt == attempts {
			return nil, fmt.Errorf("sync: %w %d times (ETag %s, then %s); try again",
				ErrChanged, attempts, dl.dbETag, dl.sigETag)
		}
		s.log.Debug("catalog and signature ETags differ, a publication happened between them; retrying",
			"db_etag", dl.dbETag, "sig_etag", dl.sigETag, "attempt", attempt)
	}
}

// checkSerial refuses a verified catalog older than the one held, or with
// the held serial but other bytes (a publisher must bump the serial with
// every change; two catalogs under one serial mean a fork or a forgery).
// The history counts only under the trust root it was verified with: after
// `trust set` or `trust reset` (a publisher who lost everything starts again
// at serial 1) the new key's catalogs start a history of their own.
// The errors name source, the catalog's URL, as verify's do: a mirror
// following one primary logged "catalog serial 3 is older than the one
// held" without saying which server offered it.
func checkSerial(h held, info catalogInfo, source string) error {
	if !h.trusted {
		return nil
	}
	if info.serial < h.floor() {
		return fmt.Errorf("sync: %s: catalog serial %d is older than the one held (%d): %w",
			source, info.serial, h.floor(), ErrRollback)
	}
	if h.present && info.serial == h.serial && info.sum != h.sum {
		return fmt.Errorf("sync: %s: catalog serial %d is the one held but its bytes differ: %w; refusing it",
			source, info.serial, ErrSameSerial)
	}
	return nil
}

func newSyncer(opts Options) (*syncer, error) {
	if opts.Dir == "" {
		return nil, errors.New("sync: no client directory given")
	}
	if opts.ServerURL == "" {
		return nil, errors.New("sync: no server URL given (server_url in client.yaml)")
	}
	base, err := url.Parse(strings.TrimRight(opts.ServerURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("sync: server URL %q: want http://HOST[:PORT] or https://…", opts.ServerURL)
	}
	s := &syncer{base: base, dir: opts.Dir, client: opts.HTTPClient, maxSize: opts.MaxSize, log: opts.Logger, now: opts.Now, keepRotation: opts.KeepRotation, hurry: opts.hurry, keySource: opts.KeySource}
	if s.now == nil {
		s.now = time.Now
	}
	if s.client == nil {
		s.client = DefaultHTTPClient()
	}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxSize
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// url joins a server path ("/packages.db") to the base URL, keeping any
// path prefix the base has (a mirror under /distpac/).
func (s *syncer) url(p string) string {
	u := *s.base
	u.Path = strings.TrimRight(u.Path, "/") + p
	u.RawPath = ""
	return u.String()
}

// pinnedKey returns the key to verify with and a hint for when it does not
// verify (where the key came from and how to change it). A nil key means
// there is none yet: the server's is fetched and pinned (TOFU).
func (s *syncer) pinnedKey(configured signing.PublicKey) (signing.PublicKey, string, error) {
	if configured != nil {
		return configured, "if the server's key really changed, update " + s.keySetting(), nil
	}
	damaged, changed := trustAdvice, "run `dist-client trust set KEY`"
	if s.keySource != "" {
		damaged, changed = "delete it, or give the key with "+s.keySource, "give it with "+s.keySource
	}
	k, err := readPinned(s.dir, damaged)
	if err != nil {
		return nil, "", fmt.Errorf("sync: %w", err)
	}
	if k == nil {
		return nil, "the key was fetched from the server itself", nil
	}
	return k, "the key was pinned in " + filepath.Join(s.dir, keyFile) + "; if the server's key really changed and its operator confirms the new one, " + changed, nil
}

// keySetting names the setting that gives the server's key.
func (s *syncer) keySetting() string { return cmp.Or(s.keySource, "server_key in client.yaml") }

// trustAdvice is how a client user replaces a pinned key.
const trustAdvice = "`dist-client trust reset` forgets it, `dist-client trust set KEY` replaces it"

// readPinned reads server.key: nil when no key is pinned. advice says how
// to replace a damaged one.
func readPinned(dir, advice string) (signing.PublicKey, error) {
	path := filepath.Join(dir, keyFile)
	b, err := fsutil.ReadRegular(path, maxSigSize, true) // a key is a line
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pinned key: %w", err)
	}
	k, err := signing.ParsePublicKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("pinned key %s: %w (%s)", path, err, advice)
	}
	return k, nil
}

func (s *syncer) pinKey(k signing.PublicKey, why string) error {
	if err := writePinned(s.dir, k); err != nil {
		return fmt.Errorf("sync: pin server key: %w", err)
	}
	s.log.Warn(why, "key", k.String(), "fingerprint", k.Fingerprint(), "path", filepath.Join(s.dir, keyFile))
	return nil
}

// writePinned replaces server.key atomically.
func writePinned(dir string, k signing.PublicKey) error {
	return fsutil.WriteFileAtomic(filepath.Join(dir, keyFile), []byte(k.String()+"\n"), 0o644)
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

// Open opens the current catalog read-only.
func Open(ctx context.Context, dir string) (*catalog.DB, error) {
	p, err := Path(dir)
	if err != nil {
		return nil, err
	}
	return catalog.OpenReadOnly(ctx, p)
}
