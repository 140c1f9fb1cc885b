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
package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/distpac/distpac/internal/swarm"
)

// Item is one archive to download.
type Item struct {
	Archive string `json:"archive"`
	Size    int64  `json:"size"`
	Torrent []byte `json:"torrent"`
}

// Request asks the daemon to download items into its cache.
type Request struct {
	Items []Item `json:"items"`
}

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
}

// MaxSocketPath is the longest unix socket path Linux accepts.
const MaxSocketPath = 107

// Listen takes the unix socket at path for a daemon: it fails when another
// daemon answers there, and replaces a socket left by one that was killed.
// Call it before anything else a daemon starts, so a second daemon stops
// before it seeds or says it runs.
func Listen(path string) (net.Listener, error) {
	if len(path) > MaxSocketPath {
		return nil, fmt.Errorf("daemon socket %s: path is %d bytes, unix sockets allow %d: use a shorter XDG_DATA_HOME", path, len(path), MaxSocketPath)
	}
	// A socket left by a daemon that was killed refuses connections.
	if _, err := os.Stat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("daemon socket %s: another daemon is running", path)
		}
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("daemon socket: %w", err)
	}
	return ln, nil
}

// Serve answers the CLI on ln (from Listen) until ctx ends, then removes
// the socket.
func Serve(ctx context.Context, ln net.Listener, engine *swarm.Engine, logger *slog.Logger) error {
	defer os.Remove(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st := engine.Stats()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Status{PID: os.Getpid(), Port: engine.Port(), Torrents: st.Torrents, Peers: st.Peers, Uploaded: st.Uploaded, Downloaded: st.Downloaded})
	})
	mux.HandleFunc("POST /download", func(w http.ResponseWriter, r *http.Request) {
		download(r.Context(), w, r, engine, logger)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

func download(ctx context.Context, w http.ResponseWriter, r *http.Request, engine *swarm.Engine, logger *slog.Logger) {
	var req Request
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(&req); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
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
	for _, it := range req.Items {
		total += it.Size
	}
	done := make([]int64, len(req.Items))
	peers := 0
	g, gctx := errgroup.WithContext(ctx)
	for i, it := range req.Items {
		g.Go(func() error {
			err := engine.Download(gctx, it.Torrent, nil, func(p swarm.Progress) {
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
				return fmt.Errorf("download %s: %w", it.Archive, err)
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
	return st, json.NewDecoder(resp.Body).Decode(&st)
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
		return fmt.Errorf("daemon: %s", resp.Status)
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
