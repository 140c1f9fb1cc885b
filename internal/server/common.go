package server

import (
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

	"github.com/gofrs/flock"
	"golang.org/x/time/rate"

	"github.com/distpac/distpac/internal/catalogserver"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/connlimit"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/swarm"
)

// What dist-server start and dist-server mirror share: one running server
// per data directory (the run lock), its HTTP listeners, the seeder's
// engine settings and server.json, which status and stop read.

// lockRun takes the data directory's run lock for the life of a server.
func lockRun(p paths.Server) (*flock.Flock, error) {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", p.Dir, err)
	}
	l := flock.New(p.RunLock())
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", p.RunLock(), err)
	}
	if !ok {
		return nil, fmt.Errorf("%w (see %s)", ErrRunning, p.PIDFile())
	}
	// A server.json here is a dead server's (kill -9): this one writes its
	// own once it is ready, and until then nothing should read the old pid
	// or addresses.
	if err := os.Remove(p.PIDFile()); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.Unlock()
		return nil, fmt.Errorf("remove the stale %s: %w", p.PIDFile(), err)
	}
	return l, nil
}

// httpGroup is a server's HTTP listeners, shut down together.
type httpGroup struct {
	log     *slog.Logger
	servers []*http.Server

	mu     sync.Mutex
	limits map[string]*connlimit.Listener // by component; guarded by mu
}

// serve listens on addr and serves h there in the background, with the
// connections of one address and of all bounded (connlimit's defaults;
// idle keep-alive connections make room first).
func (g *httpGroup) serve(name, addr string, h http.Handler) (net.Addr, error) {
	tcp, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", name, addr, err)
	}
	return g.serveOn(name, tcp, h), nil
}

// serveOn is serve on a listener opened before (listenAll).
func (g *httpGroup) serveOn(name string, tcp net.Listener, h http.Handler) net.Addr {
	ln := connlimit.Wrap(tcp, connlimit.Options{Name: name, Logger: g.log})
	g.mu.Lock()
	if g.limits == nil {
		g.limits = map[string]*connlimit.Listener{}
	}
	g.limits[name] = ln
	g.mu.Unlock()
	s := connlimit.NewHTTPServer(h, g.log)
	ln.Bind(s)
	g.servers = append(g.servers, s)
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server stopped", "component", name, "err", err)
		}
	}()
	return ln.Addr()
}

// shutdown stops every listener, letting requests in flight finish for
// up to 5 s.
func (g *httpGroup) shutdown() {
	ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	for _, s := range g.servers {
		s.Shutdown(ctx)
	}
}

// logStopped logs, when a server or mirror that started at started has
// closed everything it opened, that it stopped, or why it failed: the log
// of one stopped by `dist-server stop` ended at "stopping", and a reader
// could not tell a clean stop from a crash after it.
func logStopped(log *slog.Logger, what string, started time.Time, err error) {
	up := time.Since(started).Round(time.Second)
	if err != nil {
		log.Error(what+" stopped", "err", err, "uptime", up)
		return
	}
	log.Info(what+" stopped", "uptime", up)
}

// uplink is the limiter of upload_rate_limit, which the seeder and the
// web seed (the catalog server's /packages/) share: the setting caps the
// uplink, whichever way the bytes leave. nil when unlimited.
//
// The web seed was not paced before: a client the seeder could not serve
// (its six slots taken) fetched a 16 MiB archive from /packages/ at
// 14.9 MiB/s from a publisher capped at 2 MiB/s.
func uplink(cfg *config.Server) *rate.Limiter {
	if cfg.UploadRateLimit <= 0 {
		return nil
	}
	return swarm.NewLimiter(int64(cfg.UploadRateLimit))
}

// seederConfig is the engine of a server that seeds archives in dir: the
// publisher's, or a mirror's; up is its uplink's limiter (may be nil).
func seederConfig(cfg *config.Server, dir string, disableTrackers bool, up *rate.Limiter, log *slog.Logger) swarm.Config {
	queue, slots := 0, swarm.UncappedPublisherPeers
	if cfg.UploadRateLimit > 0 {
		// A scarce uplink: keep requests fresh and serve a few peers at
		// a time, who pass the pieces on.
		queue, slots = swarm.DefaultPublisherQueue, swarm.PublisherSlots
	}
	return swarm.Config{
		Dir:             dir,
		ListenAddr:      cfg.PeerAddr,
		UploadRate:      int64(cfg.UploadRateLimit),
		UploadLimiter:   up,
		DisableTrackers: disableTrackers,
		PublisherQueue:  queue,
		PeersPerTorrent: slots,
		Server:          true,
		Logger:          log,
	}
}

// serveCatalog serves the catalog server on the listener of database_addr
// (and its metrics on metrics_addr's when set), recording the addresses
// in info.
func (g *httpGroup) serveCatalog(lns *listeners, cs *catalogserver.Server, info *Info) {
	a := g.serveOn("database", take(&lns.catalog), cs.Handler())
	info.Database = "http://" + hostPort(a)
	info.Listen["catalog"] = a.String()
	if lns.metrics != nil {
		m := g.serveOn("metrics", take(&lns.metrics), cs.MetricsHandler())
		info.Metrics = "http://" + hostPort(m) + catalogserver.PathMetrics
		info.Listen["metrics"] = m.String()
	}
}

// control starts the local control endpoint (dist-server status),
// recording its URL in info before it serves: status reads info, and
// written after, Control raced a request that came in at once.
func (g *httpGroup) control(info *Info, status func() Status) error {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("control: listen on 127.0.0.1:0: %w", err)
	}
	info.Control = "http://" + tcp.Addr().String()
	g.serveOn("control", tcp, controlHandler(status))
	return nil
}

// writeInfo writes server.json.
func writeInfo(p paths.Server, info Info) error {
	b, _ := json.MarshalIndent(info, "", "  ")
	return fsutil.WriteFileAtomic(p.PIDFile(), append(b, '\n'), 0o644)
}

// controlHandler serves GET /status on the control endpoint.
func controlHandler(status func() Status) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(status())
	})
	return mux
}
