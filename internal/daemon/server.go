package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/swarm"
)

// Serve answers the CLI on ln (from Listen) until ctx ends, then removes
// the socket. Downloads are looked up in the verified catalog of the client
// directory catalogDir (the daemon's own data home).
func Serve(ctx context.Context, ln net.Listener, engine *swarm.Engine, catalogDir string, logger *slog.Logger) error {
	return serve(ctx, ln, &handler{engine: engine, catalogDir: catalogDir, logger: logger, started: time.Now()})
}

// handler is what the socket serves.
type handler struct {
	engine     *swarm.Engine
	catalogDir string
	logger     *slog.Logger
	started    time.Time
	seed       string
	metrics    http.Handler   // nil: no /metrics
	downloaded func([]Report) // called after each successful download request; may be nil
	failed     func(error)    // called after each failed one; may be nil
	// requested holds the archives of the requests in flight (and just
	// ended) out of a cache trim; nil: not tracked.
	requested *requested
	// mirrorSeeds, when not nil, gives the servers' web seeds in the order
	// to try them now, set on the engine for each download request (the
	// daemon took it once, at its start, and sent installs to a server the
	// syncs since had found down first); nil keeps the engine's.
	mirrorSeeds func() []string
	// ready, when not nil, is closed once the daemon has set up what it
	// seeds: the socket answers from the start, so that an install finds
	// the daemon (and downloads through it at once) while it verifies a
	// large cache; a full status waits for ready, so it lists what is
	// seeded.
	ready <-chan struct{}
}

// waitReady waits until the daemon has set up seeding, or ctx ends.
func (h *handler) waitReady(ctx context.Context) error {
	if h.ready == nil {
		return nil
	}
	select {
	case <-h.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *handler) status(items bool) Status {
	st := h.engine.Stats()
	out := Status{PID: os.Getpid(), Port: h.engine.Port(), Torrents: st.Torrents, Peers: st.Peers, Uploaded: st.Uploaded, Downloaded: st.Downloaded,
		PublisherQueue: st.PublisherQueue, Listen: h.engine.Addr().String(), Seed: h.seed, Started: h.started}
	if items {
		out.Items = h.engine.Torrents()
	}
	return out
}

func serve(ctx context.Context, ln net.Listener, h *handler) error {
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		// The torrents are listed once seeding is set up (a status asked
		// for at start-up lists what the daemon seeds, as it did when the
		// socket answered only then); without them, at once (Dial).
		brief := r.URL.Query().Get("items") == "0"
		if !brief && h.waitReady(r.Context()) != nil {
			return
		}
		if !brief {
			// What dist-client clean (or anyone) deleted from the cache
			// goes now, not at the next look of followCatalog (every
			// policyInterval, 10 s), during which status listed it as
			// seeding (a newcomer's run). A stat per torrent.
			h.engine.DropVanished()
		}
		st := h.status(!brief)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	if h.metrics != nil {
		mux.Handle("GET /metrics", h.metrics)
	}
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, r *http.Request) {
		h.download(r.Context(), w, r)
	})
	// Requests run under their own context, ended when the daemon stops:
	// a download in flight then ends with an error event that says so.
	// Serve returns as soon as Shutdown starts (or fails), so serve waits
	// for the shutdown too, and the handlers have ended before the caller
	// closes the engine: those that do not end within shutdownWait (one
	// blocked writing to a caller that stopped reading) have their
	// connections closed, which ends their writes.
	// The CLI's requests have a few short headers: maxHeaderBytes, not
	// net/http's 1 MiB, which 400 connections each sending a megabyte of
	// header lines held at once (the daemon at 450 MB for the 10 s of
	// ReadHeaderTimeout; an attacker's run).
	requests, stopRequests := context.WithCancelCause(context.Background())
	srv := &http.Server{Handler: bodyDeadline(onlyOwner(mux, h.logger)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ConnContext: withPeer,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(h.logger.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return requests }}
	stop, stopped := context.WithCancel(ctx)
	shutDown := make(chan struct{})
	go func() {
		defer close(shutDown)
		<-stop.Done()
		stopRequests(ErrStopping)
		shutdown, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			h.logger.Warn("daemon: requests still running at exit; closing their connections", "err", err)
			srv.Close()
		}
	}()
	err := srv.Serve(ln)
	stopped()
	<-shutDown
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdownWait bounds how long a stopping daemon waits for its requests
// to end; they are told to at once, so this is for one that does not.
const shutdownWait = 5 * time.Second

// maxHeaderBytes bounds a request's header on the daemon's socket, as the
// catalog server's (16 KiB).
const maxHeaderBytes = 16 << 10

// bodyDeadline gives a request's body requestReadTime to arrive: a caller
// that sent part of one and waited held its connection (a descriptor, and
// 18 KB) for good, 20,000 of them the daemon's descriptor limit. A handler
// that reads the body whole clears it (decodeRequest); one that does not
// leaves the server to read and drop the rest after it, within the same
// deadline. http.Server's ReadTimeout would also cancel the context of a
// download running longer, and a request without a body gets none.
func bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 { // a body, or chunked (-1)
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(requestReadTime))
		}
		next.ServeHTTP(w, r)
	})
}

// visibleASCII reports whether s holds only printable ASCII without
// spaces, as every package name and version does: what the daemon echoes
// back in its errors is then never a control byte.
func visibleASCII(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// decodeRequest reads a request strictly: known fields only (a caller
// sending a torrent or a URL is told so, not ignored), bounded in size, in
// items and in field lengths.
func decodeRequest(w http.ResponseWriter, r *http.Request) (Request, error) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return req, fmt.Errorf("bad request: the body did not arrive within %s", requestReadTime)
		}
		return req, fmt.Errorf("bad request: %w (want {\"items\": [{\"name\": ..., \"version\": ...}]}: the daemon downloads only packages of its verified catalog, named by name and version)", err)
	}
	if dec.More() {
		return req, errors.New("bad request: more than one JSON value")
	}
	// Read whole: the download that follows may run long (bodyDeadline).
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	// No items is a request to hold Keep alone (an install that takes
	// everything from the cache).
	if len(req.Items)+len(req.Keep) == 0 || len(req.Items) > maxItems || len(req.Keep) > maxItems {
		return req, fmt.Errorf("bad request: %d items and %d to keep, want at most %d of each, and one at least", len(req.Items), len(req.Keep), maxItems)
	}
	for _, it := range slices.Concat(req.Items, req.Keep) {
		if it.Name == "" || it.Version == "" || len(it.Name) > maxFieldLen || len(it.Version) > maxFieldLen || len(it.InfoHash) > maxFieldLen ||
			!visibleASCII(it.Name) || !visibleASCII(it.Version) || !visibleASCII(it.InfoHash) {
			return req, fmt.Errorf("bad request: item %.40q@%.40q: want a name and a version of at most %d bytes, in visible ASCII", it.Name, it.Version, maxFieldLen)
		}
	}
	return req, nil
}

// lookup finds every item of req in the verified catalog of dir, and the
// archives of its Keep packages. Holding those is a courtesy to the
// caller: a name the catalog lacks (it changed since the caller's sync) is
// skipped, not a reason to refuse the download.
func lookup(ctx context.Context, dir string, req Request, logger *slog.Logger) (rows []catalog.Package, kept []string, err error) {
	db, err := catalogclient.Open(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	rows = make([]catalog.Package, 0, len(req.Items))
	seen := map[string]bool{}
	for _, it := range req.Items {
		row, err := db.Get(ctx, it.Name, it.Version)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s is not in the catalog; run dist-client sync", it.ID())
		}
		if err != nil {
			return nil, nil, err
		}
		if it.InfoHash != "" && it.InfoHash != row.InfoHash {
			return nil, nil, fmt.Errorf("%s has infohash %s in the daemon's catalog, not %.40s: the catalog changed; run dist-client sync", it.ID(), row.InfoHash, it.InfoHash)
		}
		if !seen[row.InfoHash] {
			seen[row.InfoHash] = true
			rows = append(rows, row)
		}
	}
	for _, it := range req.Keep {
		row, err := db.Get(ctx, it.Name, it.Version)
		if err != nil || it.InfoHash != "" && it.InfoHash != row.InfoHash {
			logger.Debug("daemon: a package to keep is not in the catalog", "package", it.ID())
			continue
		}
		kept = append(kept, row.Archive)
	}
	return rows, kept, nil
}
