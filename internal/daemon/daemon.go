// Package daemon is dist-client daemon's local socket: the daemon owns one
// BitTorrent engine that seeds the cache, and the CLI asks it to download
// archives instead of starting an engine of its own, so the two never fight
// over the peer port or the cache files, and what the CLI installs keeps
// being seeded after the CLI exits.
//
// The protocol is HTTP over a unix socket:
//
//	GET  /status    -> Status (JSON), once the cached archives are set up
//	                   for seeding; ?items=0 without the torrents, at once
//	                   (downloads are served from the start)
//	GET  /metrics   -> Prometheus metrics (text)
//	POST /download  <- Request (JSON); -> a stream of Event lines (NDJSON),
//	                   progress every ?progress_ms=N (200 to 5000; default 200)
//
// The socket is private to the daemon's user (mode 0600, and every
// connection's uid checked with SO_PEERCRED), and a request names packages
// only by name and version: the daemon looks them up in its own copy of the
// synced, signature-verified catalog and downloads that row's torrent. It
// never takes metainfo, trackers or URLs from a caller, so whoever reaches
// the socket cannot make it contact anything the publisher did not sign.
package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// Item names one package version of the catalog to download.
type Item struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// InfoHash, when set, must be the catalog row's: the caller and the
	// daemon then agree on the very bytes (a sync in between may have
	// changed the catalog).
	InfoHash string `json:"infohash,omitempty"`
}

// ID is "name@version".
func (it Item) ID() string { return it.Name + "@" + it.Version }

// Request asks the daemon to download items into its cache.
type Request struct {
	Items []Item `json:"items"`
	// Keep names packages of the same install that the caller takes from
	// its cache: the daemon does not download them, and holds their
	// archives out of a cache trim (cache_max_size) with the downloaded
	// ones, which otherwise could remove one before the install extracted
	// it.
	Keep []Item `json:"keep,omitempty"`
}

// Limits on a request: it is a list of names, so these are generous.
const (
	maxRequestBytes = 1 << 20
	maxItems        = 4096
	maxFieldLen     = 256
	// requestReadTime bounds the arrival of a request's body (a list of
	// names from the same machine: milliseconds).
	requestReadTime = 10 * time.Second
)

// Limits on what the CLI reads from the daemon. The finished event of a
// download carries a report per archive (at most maxItems, each well under
// maxReportBytes: a name and version of at most 128 and 256 bytes and ten
// numbers), so one line may be megabytes: a scanner's default 64 KiB
// failed an install of about 220 archives after the daemon had downloaded
// them all. The status lists every torrent of the engine, about 300 bytes
// each; Dial asks for it without them (?items=0), so that a daemon seeding
// thousands of archives is still found.
const (
	maxReportBytes = 2 << 10
	maxEventBytes  = 64<<10 + maxItems*maxReportBytes
	maxStatusBytes = 64 << 20 // about 200,000 torrents
)

// Event is one line of a download's progress; the last has Done or Error set.
type Event struct {
	Bytes    int64  `json:"bytes"` // downloaded so far, over all items
	Total    int64  `json:"total"`
	Peers    int    `json:"peers"`
	Finished bool   `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
	// Completed is set on the event sent as soon as one archive is
	// complete (the client stages it while the others download).
	Completed *Report `json:"completed,omitempty"`
	// Reports, on the finished event, say where each archive's bytes came
	// from.
	Reports []Report `json:"reports,omitempty"`
}

// Report is one archive's transfer report.
type Report struct {
	Archive  string `json:"archive"`
	InfoHash string `json:"infohash"`
	swarm.Transfer
}

// progressEvery is how often a download's progress is sent, unless the
// caller asks for less often (POST /download?progress_ms=N, at most
// maxProgressEvery): an install that draws no bar (no terminal, -q, NO_COLOR)
// needs progress only for its stall watchdog, and each event woke the
// daemon and the install, five times a second for every install under way.
const (
	progressEvery    = 200 * time.Millisecond
	maxProgressEvery = 5 * time.Second
)

// progressPeriod reads the progress_ms query parameter of a download
// request: absent or 0 is progressEvery; the result is kept within
// progressEvery..maxProgressEvery.
func progressPeriod(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("progress_ms")
	if v == "" {
		return progressEvery, nil
	}
	ms, err := strconv.ParseInt(v, 10, 64) // not Atoi: a 32-bit int would refuse what 64 bits clamp
	if err != nil || ms < 0 {
		return 0, fmt.Errorf("bad request: progress_ms %.20q is not a number of milliseconds", v)
	}
	if ms == 0 {
		return progressEvery, nil
	}
	ms = min(ms, int64(maxProgressEvery/time.Millisecond)) // before multiplying: no overflow
	return max(time.Duration(ms)*time.Millisecond, progressEvery), nil
}

// Status describes the running daemon.
type Status struct {
	PID        int   `json:"pid"`
	Port       int   `json:"port"`
	Torrents   int   `json:"torrents"`
	Peers      int   `json:"peers"`
	Uploaded   int64 `json:"uploaded_bytes"`
	Downloaded int64 `json:"downloaded_bytes"`
	// Listen is the peer address the engine is bound to.
	Listen string `json:"listen,omitempty"`
	// Seed is the seeding policy (client.yaml seed).
	Seed string `json:"seed,omitempty"`
	// Started is when the daemon started.
	Started time.Time `json:"started,omitzero"`
	// Each torrent of the engine.
	Items []swarm.TorrentStatus `json:"items,omitempty"`
	// PublisherQueue is the deepest request queue kept at a publisher
	// (swarm.Stats); bench-net shows it.
	PublisherQueue int `json:"publisher_queue,omitempty"`
}

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
	requests, stopRequests := context.WithCancelCause(context.Background())
	srv := &http.Server{Handler: bodyDeadline(onlyOwner(mux, h.logger)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ConnContext: withPeer,
		ErrorLog:    slog.NewLogLogger(h.logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return requests }}
	stop, stopped := context.WithCancel(ctx)
	shutDown := make(chan struct{})
	go func() {
		defer close(shutDown)
		<-stop.Done()
		stopRequests(errStopping)
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

// errStopping ends the requests in flight when the daemon stops.
var errStopping = errors.New("the daemon is stopping")

// shutdownWait bounds how long a stopping daemon waits for its requests
// to end; they are told to at once, so this is for one that does not.
const shutdownWait = 5 * time.Second

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

func (h *handler) download(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	engine, catalogDir, logger := h.engine, h.catalogDir, h.logger
	period, err := progressPeriod(r)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, err := decodeRequest(w, r)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, kept, err := lookup(ctx, catalogDir, req, logger)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		code := http.StatusNotFound
		if errors.Is(err, catalogclient.ErrNoCatalog) {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
	}
	if h.requested != nil {
		archives := make([]string, len(rows))
		for i, row := range rows {
			archives[i] = row.Archive
		}
		archives = append(archives, kept...)
		defer h.requested.hold(archives)()
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	var total int64
	for _, row := range rows {
		total += row.Size
	}
	// Progress goes out every period (progressEvery unless the caller
	// asked for less), whatever the number of archives (a thousand
	// torrents each reporting five times a second made thousands of events
	// a second); a completed archive at once.
	done := make([]int64, len(rows))
	peers := 0
	snapshot := func() Event {
		mu.Lock()
		defer mu.Unlock()
		var sum int64
		for _, d := range done {
			sum += d
		}
		return Event{Bytes: sum, Total: total, Peers: peers}
	}
	stopTicker := make(chan struct{})
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-stopTicker:
				return
			case <-t.C:
				send(snapshot())
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	for i, row := range rows {
		g.Go(func() error {
			err := engine.Download(gctx, row.Torrent, torrentmeta.Seeders(row.Magnet), func(p swarm.Progress) {
				mu.Lock()
				done[i] = p.Done
				peers = max(peers, p.Peers)
				mu.Unlock()
			})
			if err != nil {
				return fmt.Errorf("download %s: %w", row.Archive, err)
			}
			ev := snapshot()
			ev.Completed = &Report{Archive: row.Archive, InfoHash: row.InfoHash, Transfer: transferOf(engine, row)}
			send(ev)
			return nil
		})
	}
	werr := g.Wait()
	close(stopTicker)
	<-tickerDone
	if err := werr; err != nil {
		if errors.Is(context.Cause(ctx), errStopping) {
			err = fmt.Errorf("%w: %v (install again to finish)", errStopping, err)
		}
		logger.Warn("daemon download failed", "err", err)
		if h.failed != nil && !errors.Is(err, errStopping) {
			h.failed(err)
		}
		send(Event{Total: total, Error: err.Error()})
		return
	}
	reports := make([]Report, 0, len(rows))
	for _, row := range rows {
		t := transferOf(engine, row)
		reports = append(reports, Report{Archive: row.Archive, InfoHash: row.InfoHash, Transfer: t})
		logger.Info("download complete", "archive", row.Archive, "bytes", t.Total, "from_seeder", t.FromSeeder,
			"from_peers", t.FromPeers, "peers", t.Peers, "from_web_seed", t.FromWebSeed, "already_had", t.AlreadyHad,
			"wasted", t.Wasted, "hash_failures", t.HashFailures, "took", t.Elapsed.Round(time.Millisecond))
	}
	if h.downloaded != nil && len(rows) > 0 { // a request only to hold its Keep downloaded nothing
		h.downloaded(reports)
	}
	send(Event{Bytes: total, Total: total, Peers: peers, Finished: true, Reports: reports})
}

// transferOf is the engine's report of row's last download; an archive the
// engine already had complete counts as all already had.
func transferOf(engine *swarm.Engine, row catalog.Package) swarm.Transfer {
	if ih, err := swarm.ParseInfoHash(row.InfoHash); err == nil {
		if t, ok := engine.Transfer(ih); ok {
			return t
		}
	}
	return swarm.Transfer{Total: row.Size, AlreadyHad: row.Size}
}

// Client talks to a running daemon.
type Client struct {
	http *http.Client
}

// Dial returns a client when a daemon answers on the socket at path, and
// nil when none runs there.
func Dial(ctx context.Context, path string) *Client {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	c := &Client{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := c.status(ctx, false); err != nil {
		return nil
	}
	return c
}

// Status asks the daemon for its counters and every torrent of its engine.
func (c *Client) Status(ctx context.Context) (Status, error) {
	return c.status(ctx, true)
}

// status asks for the status, with the torrents' list or without it (a
// daemon older than the parameter sends it anyway; it then gets
// maxStatusBytes too).
func (c *Client) status(ctx context.Context, items bool) (Status, error) {
	var st Status
	url, limit := "http://daemon/status", int64(maxStatusBytes)
	if !items {
		url += "?items=0"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("daemon: %s", resp.Status)
	}
	r := &io.LimitedReader{R: resp.Body, N: limit + 1}
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		if r.N <= 0 {
			return st, fmt.Errorf("daemon: status over %d MiB", limit>>20)
		}
		return st, fmt.Errorf("daemon: bad status: %w", err)
	}
	return st, nil
}

// Download has the daemon fetch request's items into its cache (holding
// its Keep packages' archives out of a trim meanwhile), calling progress
// for each event, and returns when all are complete. every asks for
// progress events that often (0: the daemon's default, progressEvery); a
// daemon older than the parameter ignores it.
func (c *Client) Download(ctx context.Context, request Request, every time.Duration, progress func(Event)) error {
	body, err := json.Marshal(request)
	if err != nil {
		return err
	}
	url := "http://daemon/download"
	if every > 0 {
		url += "?progress_ms=" + strconv.FormatInt(every.Milliseconds(), 10)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		line, _, _ := strings.Cut(strings.TrimSpace(string(msg)), "\n")
		if line == "" {
			line = resp.Status
		}
		// A daemon started before Keep existed (the binary was upgraded
		// under it) refuses the field: it is asked again without it, as
		// it downloaded before.
		if resp.StatusCode == http.StatusBadRequest && len(request.Keep) > 0 && strings.Contains(line, `unknown field "keep"`) {
			request.Keep = nil
			return c.Download(ctx, request, every, progress)
		}
		return fmt.Errorf("daemon: %s", line)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventBytes)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("daemon: bad event: %w", err)
		}
		if progress != nil {
			progress(ev)
		}
		if ev.Error != "" {
			return fmt.Errorf("daemon: %s", ev.Error)
		}
		if ev.Finished {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("daemon: an event line over %d bytes", maxEventBytes)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("daemon: %w (%s)", err, daemonGone)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("daemon: connection closed before the download finished (%s)", daemonGone)
}

// daemonGone says what a connection to the daemon that broke mid-download
// most likely means, and what is left: the daemon exited (killed, crashed,
// or stopped without the word a stop sends), and the engine's partial file
// is in the cache either way.
const daemonGone = "the daemon stopped answering: is it still running (dist-client status)? What was downloaded is kept, and the next install resumes it"
