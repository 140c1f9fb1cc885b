// Package daemon is dist-client daemon's local socket: the daemon owns one
// BitTorrent engine that seeds the cache, and the CLI asks it to download
// archives instead of starting an engine of its own, so the two never fight
// over the peer port or the cache files, and what the CLI installs keeps
// being seeded after the CLI exits.
//
// The protocol is HTTP over a unix socket:
//
//	GET  /status    -> Status (JSON)
//	POST /download  <- Request (JSON); -> a stream of Event lines (NDJSON)
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
}

// Limits on a request: it is a list of names, so these are generous.
const (
	maxRequestBytes = 1 << 20
	maxItems        = 4096
	maxFieldLen     = 256
)

// Event is one line of a download's progress; the last has Done or Error set.
type Event struct {
	Bytes    int64  `json:"bytes"` // downloaded so far, over all items
	Total    int64  `json:"total"`
	Peers    int    `json:"peers"`
	Finished bool   `json:"finished,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Status describes the running daemon.
type Status struct {
	PID        int   `json:"pid"`
	Port       int   `json:"port"`
	Torrents   int   `json:"torrents"`
	Peers      int   `json:"peers"`
	Uploaded   int64 `json:"uploaded_bytes"`
	Downloaded int64 `json:"downloaded_bytes"`
	// PublisherQueue is the deepest request queue kept at a publisher
	// (swarm.Stats); bench-net shows it.
	PublisherQueue int `json:"publisher_queue,omitempty"`
}

// Serve answers the CLI on ln (from Listen) until ctx ends, then removes
// the socket. Downloads are looked up in the verified catalog of the client
// directory catalogDir (the daemon's own data home).
func Serve(ctx context.Context, ln net.Listener, engine *swarm.Engine, catalogDir string, logger *slog.Logger) error {
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st := engine.Stats()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Status{PID: os.Getpid(), Port: engine.Port(), Torrents: st.Torrents, Peers: st.Peers, Uploaded: st.Uploaded, Downloaded: st.Downloaded, PublisherQueue: st.PublisherQueue})
	})
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, r *http.Request) {
		download(r.Context(), w, r, engine, catalogDir, logger)
	})
	srv := &http.Server{Handler: onlyOwner(mux, logger), ReadHeaderTimeout: 10 * time.Second, ConnContext: withPeer}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// decodeRequest reads a request strictly: known fields only (a caller
// sending a torrent or a URL is told so, not ignored), bounded in size, in
// items and in field lengths.
func decodeRequest(w http.ResponseWriter, r *http.Request) (Request, error) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("bad request: %w (want {\"items\": [{\"name\": ..., \"version\": ...}]}: the daemon downloads only packages of its verified catalog, named by name and version)", err)
	}
	if dec.More() {
		return req, errors.New("bad request: more than one JSON value")
	}
	if len(req.Items) == 0 || len(req.Items) > maxItems {
		return req, fmt.Errorf("bad request: %d items, want 1 to %d", len(req.Items), maxItems)
	}
	for _, it := range req.Items {
		if it.Name == "" || it.Version == "" || len(it.Name) > maxFieldLen || len(it.Version) > maxFieldLen || len(it.InfoHash) > maxFieldLen {
			return req, fmt.Errorf("bad request: item %.40q@%.40q: want a name and a version of at most %d bytes", it.Name, it.Version, maxFieldLen)
		}
	}
	return req, nil
}

// lookup finds every item in the verified catalog of dir.
func lookup(ctx context.Context, dir string, items []Item) ([]catalog.Package, error) {
	db, err := catalogclient.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows := make([]catalog.Package, 0, len(items))
	seen := map[string]bool{}
	for _, it := range items {
		row, err := db.Get(ctx, it.Name, it.Version)
		if errors.Is(err, catalog.ErrNotFound) {
			return nil, fmt.Errorf("%s is not in the catalog; run dist-client sync", it.ID())
		}
		if err != nil {
			return nil, err
		}
		if it.InfoHash != "" && it.InfoHash != row.InfoHash {
			return nil, fmt.Errorf("%s has infohash %s in the daemon's catalog, not %.40s: the catalog changed; run dist-client sync", it.ID(), row.InfoHash, it.InfoHash)
		}
		if !seen[row.InfoHash] {
			seen[row.InfoHash] = true
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func download(ctx context.Context, w http.ResponseWriter, r *http.Request, engine *swarm.Engine, catalogDir string, logger *slog.Logger) {
	req, err := decodeRequest(w, r)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, err := lookup(ctx, catalogDir, req.Items)
	if err != nil {
		logger.Warn("daemon: refused a download request", "err", err)
		code := http.StatusNotFound
		if errors.Is(err, catalogclient.ErrNoCatalog) {
			code = http.StatusConflict
		}
		http.Error(w, err.Error(), code)
		return
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
	done := make([]int64, len(rows))
	peers := 0
	g, gctx := errgroup.WithContext(ctx)
	for i, row := range rows {
		g.Go(func() error {
			err := engine.Download(gctx, row.Torrent, torrentmeta.Seeders(row.Magnet), func(p swarm.Progress) {
				mu.Lock()
				done[i] = p.Done
				peers = max(peers, p.Peers)
				var sum int64
				for _, d := range done {
					sum += d
				}
				ev := Event{Bytes: sum, Total: total, Peers: peers}
				mu.Unlock()
				send(ev)
			})
			if err != nil {
				return fmt.Errorf("download %s: %w", row.Archive, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		logger.Warn("daemon download failed", "err", err)
		send(Event{Total: total, Error: err.Error()})
		return
	}
	send(Event{Bytes: total, Total: total, Peers: peers, Finished: true})
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
	if _, err := c.Status(ctx); err != nil {
		return nil
	}
	return c
}

// Status asks the daemon for its counters.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://daemon/status", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("daemon: %s", resp.Status)
	}
	return st, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
}

// Download has the daemon fetch items into its cache, calling progress for
// each event, and returns when all are complete.
func (c *Client) Download(ctx context.Context, items []Item, progress func(Event)) error {
	body, err := json.Marshal(Request{Items: items})
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://daemon/download", bytes.NewReader(body))
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
		return fmt.Errorf("daemon: %s", line)
	}
	sc := bufio.NewScanner(resp.Body)
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
		return fmt.Errorf("daemon: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("daemon: connection closed before the download finished")
}
