package catalogclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/redact"
)

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
	givenKey     bool // the caller gave the trust root (Options.Key)
	configFile   string
	configured   []string // every server the caller lists (Options.ServerURLs), for advice
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
	configured := servers
	if len(servers) > 1 {
		fails = readFailures(opts.Dir)
		servers = fails.order(servers, now())
	} else if opts.Dir != "" {
		forgetFailures(opts.Dir)
	}
	if opts.Only != "" {
		servers = []string{opts.Only}
	}
	var failed ServersError
	// The servers that gave a valid catalog older than the one held, and
	// the last one's BehindError: when no server gives a newer catalog,
	// the one held is kept (BehindError).
	var behind []Behind
	var kept *BehindError
	// A server too slow to be worth waiting for while another is untried
	// (errSlow) gets its turn again after the others, waited for then.
	var slow []string
	try := func(u string, hurry bool) (Result, error) {
		one := opts
		one.ServerURL, one.ServerURLs, one.hurry, one.configured = u, nil, hurry, configured
		start := time.Now()
		res, err := syncOne(ctx, one)
		if err == nil {
			res.Server, res.Failed, res.Behind = redact.URL(u), failed, behind
			if len(configured) > 1 {
				res.Demoted = fails.passedOver(configured, res.Server, now())
				fails.record(opts.Dir, configured, failed, behind, res.Server, now())
			}
			return res, nil
		}
		// Debug records: the caller says what each server did from
		// Result.Failed and Result.Behind, or the ServersError (a mirror
		// of two primaries warned twice of each that failed a round).
		if b := behindOf(err); b != nil && ctx.Err() == nil {
			behind = append(behind, Behind{URL: redact.URL(u), Serial: b.Serial, Held: b.Floor, ValidUntil: b.ValidUntil, Stale: b.Stale, at: b.Now, Err: err})
			kept = b
			if opts.Logger != nil && len(servers) > 1 {
				opts.Logger.Debug("server is behind the catalog held", "server", redact.URL(u), "serial", b.Serial, "held", b.Floor)
			}
			return Result{}, err
		}
		// Keys that disagree are the servers' answer together, not one
		// server's failure to fail over from.
		if len(servers) == 1 || ctx.Err() != nil || keysDisagree(err) {
			return Result{}, err
		}
		failed = append(failed, ServerError{URL: redact.URL(u), Took: time.Since(start), Err: err})
		if errors.Is(err, errSlow) {
			slow = append(slow, u)
		}
		if opts.Logger != nil {
			opts.Logger.Debug("server failed", "server", redact.URL(u), "err", err)
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
			if ctx.Err() != nil || len(servers) == 1 && behindOf(err) == nil || keysDisagree(err) {
				return Result{}, err
			}
		}
	}
	if ctx.Err() == nil && len(servers) > 1 {
		fails.record(opts.Dir, configured, failed, behind, "", now())
	}
	if kept != nil && ctx.Err() == nil {
		// No server gave a newer catalog and one is only behind the one
		// held, which is valid: it stays, up to date as far as the
		// servers that answered know. sync.json does not move (synced_at
		// is the time of the last catalog a server gave).
		return Result{Serial: kept.Floor, Packages: kept.Packages, ValidUntil: kept.Held.ValidUntil, Failed: failed, Behind: behind}, nil
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
	// An expired catalog is never taken. One older than a valid catalog
	// held is the server behind (and stale), which Sync takes as it takes
	// one only behind (BehindError); otherwise it is refused as expired.
	serialErr := checkSerial(held, info, dl.endpoint, s.now())
	if info.meta.Expired(s.now()) && behindOf(serialErr) == nil {
		return Result{}, fmt.Errorf("sync: %w", &ExpiredError{Source: dl.endpoint, Meta: info.meta, Now: s.now()})
	}
	if serialErr != nil {
		return Result{}, serialErr
	}

	res := Result{Serial: info.serial, Packages: info.packages, Rotated: info.rotated, ValidUntil: info.meta.ValidUntil}
	root := key // the key the next sync starts from
	switch {
	case tofu:
		// Not when another server listed presents another key
		// (keyagree.go).
		if err := s.othersAgree(ctx, key); err != nil {
			return Result{}, err
		}
		// Pinned before the swap, so a crash never leaves a catalog verified
		// by a key that is not recorded.
		if err := s.pinKey(key, true, 0, "pinned the server's key on first use"); err != nil {
			return Result{}, err
		}
		res.Pinned = key
	case len(info.rotated) > 0 && opts.Key == nil:
		root = info.signer
		if err := s.pinKey(root, false, info.rotated[len(info.rotated)-1].Serial, "followed the server's key rotation"); err != nil {
			return Result{}, err
		}
	}
	// The same bytes as held (e.g. from a mirror with other ETags) need no
	// move. (The same serial with other bytes passed checkSerial only under
	// a new trust root, and replaces the held catalog.)
	if !held.present || info.serial != held.serial || info.sum != held.sum {
		current, err := s.install(dl, info)
		if err != nil {
			if tofu {
				os.Remove(filepath.Join(s.dir, keyFile)) // pin only with a catalog it verified
			}
			return Result{}, err
		}
		res.Updated = true
		res.WebSeeds, res.DroppedWebSeeds = info.checked.WebSeeds, info.checked.DroppedWebSeeds
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
	if h.present && h.trusted && !tofu && redact.URL(h.state.ServerURL) == s.server() {
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
// held" without saying which server offered it. An older catalog is a
// *BehindError: Sync keeps the catalog held then, when it is valid at now
// and no server gives a newer one.
func checkSerial(h held, info catalogInfo, source string, now time.Time) error {
	if !h.trusted {
		return nil
	}
	if info.serial < h.floor() {
		return fmt.Errorf("sync: %w", &BehindError{Source: source, Serial: info.serial, Floor: h.floor(),
			ValidUntil: info.meta.ValidUntil, Stale: info.meta.Expired(now),
			Present: h.present, Held: h.meta, Packages: h.packages, Now: now})
	}
	if h.present && info.serial == h.serial && info.sum != h.sum {
		return fmt.Errorf("sync: %s: catalog serial %d is the one held but its bytes differ: %w; refusing it "+
			"(two catalogs signed under one serial: a publisher restored from a backup while its clock was behind? "+
			"A publication's serial is at least its UTC time as YYYYMMDDhhmmss, so what it publishes once its clock is past this serial is taken; "+
			"'dist-server republish --past %d' on the publisher publishes past it now)",
			source, info.serial, ErrSameSerial, info.serial)
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
	base, err := serverBase(opts.ServerURL)
	if err != nil {
		return nil, err
	}
	s := &syncer{base: base, dir: opts.Dir, client: opts.HTTPClient, maxSize: opts.MaxSize, log: opts.Logger, now: opts.Now, keepRotation: opts.KeepRotation, hurry: opts.hurry, keySource: opts.KeySource, givenKey: opts.Key != nil, configFile: opts.ConfigFile, configured: opts.configured}
	if len(s.configured) == 0 {
		s.configured = []string{opts.ServerURL}
	}
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

// serverBase is a server's URL as a syncer's base: without a trailing
// slash, http or https, with a host.
func serverBase(u string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimRight(u, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("sync: server URL %q: want http://HOST[:PORT] or https://…", redact.URL(u))
	}
	return base, nil
}

// target joins a server path ("/packages.db") to the base URL, keeping
// any path prefix the base has (a mirror under /distpac/), and its user
// and password: the URL requested (get).
func (s *syncer) target(p string) string {
	u := *s.base
	u.Path = strings.TrimRight(u.Path, "/") + p
	u.RawPath = ""
	return u.String()
}

// url is target(p) as messages show it, its password masked
// (redact.URL).
func (s *syncer) url(p string) string { return redact.URL(s.target(p)) }

// server is the base URL as messages show it and the files that record
// it (sync.json, servers.json, server.key.origin) hold it.
func (s *syncer) server() string { return redact.URL(s.base.String()) }
