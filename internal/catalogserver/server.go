// Package catalogserver is the HTTP side of distpac's signed catalog
// (DESIGN.md §5): it serves packages.db and packages.db.sig from memory with
// a shared strong ETag, the key rotation statements at packages.db.rotation,
// the package archives as a BEP 19 web seed under /packages/, the server's
// public key at /key (for trust on first use),
// Prometheus metrics at /metrics and a health check at /healthz.
//
// What is served changes only through SetSnapshot, which swaps one immutable
// snapshot pointer: a request loads the pointer once, so it always serves a
// catalog and a signature that belong together, even while a publication
// happens. Archives are served only when their exact name is in the current
// snapshot's set; a request path is looked up in that set and never joined to
// a directory before the lookup succeeds, so traversal has nothing to reach.
package catalogserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/httprange"
	"github.com/distpac/distpac/internal/signing"
)

// Paths served. The catalog's own paths and headers are the wire contract
// that internal/catalogclient owns.
const (
	PathCatalog   = catalogclient.PathCatalog
	PathSignature = catalogclient.PathSignature
	PathKey       = catalogclient.PathKey
	PathRotation  = catalogclient.PathRotation
	PathArchives  = "/packages/"
	PathMetrics   = "/metrics"
	PathHealth    = "/healthz"
)

// HeaderSerial carries the served catalog's serial on both catalog files.
const HeaderSerial = catalogclient.HeaderSerial

// Content types of what is served.
const (
	ContentTypeCatalog   = catalogclient.ContentTypeCatalog
	ContentTypeSignature = "application/octet-stream"
	contentTypeArchive   = "application/zstd"
)

// notPublished is the body of a 503 before the first SetSnapshot.
const notPublished = "no catalog published yet: the server has not finished its first publication; retry shortly\n"

// Options configure a Server.
type Options struct {
	// ArchivesDir is where NAME-VERSION.tar.zst files live; they are served
	// under /packages/ as a BEP 19 web seed.
	ArchivesDir string
	// Registry receives the server's metrics, which /metrics serves. nil
	// means a new registry. Registering twice in one registry panics, as
	// for any duplicate Prometheus collector.
	Registry *prometheus.Registry
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
	// NoMetrics leaves /metrics out of Handler (404), for a server that
	// serves MetricsHandler on a private address instead.
	NoMetrics bool
	// UploadLimiter, when set, paces the archives served under /packages/
	// (the web seed) by the uplink's limiter, which the server's seeder
	// shares (swarm.Config.UploadLimiter), out of what the seeder leaves
	// of it (pacedWriter): upload_rate_limit caps the uplink, whichever way
	// the bytes go. The catalog and its signature are not paced.
	UploadLimiter *rate.Limiter
}

// snapshot is one published state. Its fields but later are never
// modified after SetSnapshot stores it, so readers need no lock; later,
// which AddArchive adds to, is a sync.Map for that reason (a snapshot
// copied for each archive a mirror brings in would cost O(n²)).
type snapshot struct {
	db, sig  []byte
	serial   int64
	etag     string
	archives map[string]struct{}
	// later holds the archives added to this snapshot since it was set
	// (AddArchive), as keys.
	later sync.Map
}

// Server serves one catalog snapshot at a time. It is safe for concurrent
// use.
type Server struct {
	archivesDir string
	log         *slog.Logger
	reg         *prometheus.Registry
	upload      *rate.Limiter // nil: archives sent unpaced

	// withheld holds, as keys, the archives not served: their copy here
	// no longer matches the torrent (Withhold).
	withheld sync.Map
	snap     atomic.Pointer[snapshot]          // nil until the first SetSnapshot
	key      atomic.Pointer[signing.PublicKey] // nil until SetKey
	rotation atomic.Pointer[[]byte]            // nil: the key never rotated

	requests     *prometheus.CounterVec
	archiveBytes prometheus.Counter
	archiveSent  atomic.Int64 // archiveBytes, for ArchiveBytesServed
	serial       prometheus.Gauge
	metrics      http.Handler
	noMetrics    bool
}

// New makes a Server that answers 503 until SetSnapshot is called.
func New(opts Options) *Server {
	s := &Server{
		archivesDir: opts.ArchivesDir,
		log:         opts.Logger,
		reg:         opts.Registry,
		noMetrics:   opts.NoMetrics,
		upload:      opts.UploadLimiter,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "distpac_catalog_requests_total",
		Help: "Requests for packages.db and packages.db.sig, by file and HTTP status code.",
	}, []string{"file", "code"})
	s.archiveBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "distpac_archive_bytes_served_total",
		Help: "Archive bytes sent over HTTP under /packages/ (the web seed).",
	})
	s.serial = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "distpac_catalog_serial",
		Help: "Serial of the catalog being served (0 before the first publication).",
	})
	s.reg.MustRegister(s.requests, s.archiveBytes, s.serial, catalogInfo{s})
	s.metrics = promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	})
	return s
}

// catalogInfoDesc describes distpac_catalog_info, an info metric in the
// Prometheus way (as go_build_info): value 1, the facts in labels.
var catalogInfoDesc = prometheus.NewDesc("distpac_catalog_info",
	"The catalog being served: its serial, digit for digit, as a label (value 1; absent before the first publication).",
	[]string{"serial"}, nil)

// catalogInfo collects distpac_catalog_info from the snapshot served at
// scrape time. A serial is a YYYYMMDDhhmmss-like integer, which the gauge
// distpac_catalog_serial prints as 2.026120723181e+13 (and rounds past
// 2^53): operators who read or grep /metrics, and queries that join on
// the serial, want its digits. Collected, not set, so that the label
// changes with the snapshot at once and no scrape sees two serials or
// none between publications.
type catalogInfo struct{ s *Server }

func (c catalogInfo) Describe(ch chan<- *prometheus.Desc) { ch <- catalogInfoDesc }

func (c catalogInfo) Collect(ch chan<- prometheus.Metric) {
	sn := c.s.snap.Load()
	if sn == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(catalogInfoDesc, prometheus.GaugeValue, 1, strconv.FormatInt(sn.serial, 10))
}

// ArchiveBytesServed is how many archive bytes were sent under
// /packages/ (the web seed), each response counted once it ended: what
// the server's uplink carried beside its seeder's (dist-server status).
func (s *Server) ArchiveBytesServed() int64 { return s.archiveSent.Load() }

// MetricsHandler serves the registry's metrics (GET /metrics), for a
// listener of its own.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+PathMetrics, s.metrics)
	return mux
}

// ETag returns the strong ETag served with a catalog: the serial and the
// start of the SHA-256 of its bytes. The signature file carries the same
// ETag, so a client can tell that a .db and a .sig belong together.
func ETag(serial int64, db []byte) string {
	sum := sha256.Sum256(db)
	return fmt.Sprintf(`"%d-%s"`, serial, hex.EncodeToString(sum[:])[:16])
}

// SetSnapshot atomically replaces what is served: the catalog bytes, their
// signature, the serial, and the set of archive file names that may be
// served under /packages/. Requests in flight keep the old pair; new
// requests get the new pair. The server keeps db and sig: the caller must
// not modify them afterwards.
func (s *Server) SetSnapshot(db, sig []byte, serial int64, archives []string) {
	set := make(map[string]struct{}, len(archives))
	for _, a := range archives {
		set[a] = struct{}{}
	}
	s.snap.Store(&snapshot{
		db:       db,
		sig:      sig,
		serial:   serial,
		etag:     ETag(serial, db),
		archives: set,
	})
	s.serial.Set(float64(serial))
	s.log.Debug("catalog snapshot set", "serial", serial, "bytes", len(db), "archives", len(archives))
}

// AddArchive lets the archive named be served under /packages/ with the
// snapshot served now: a mirror serves a new catalog at once and each
// archive as it comes in (it served the catalog only once every archive
// was in, and 10,000 that could not be had kept it at the old catalog, or
// at 503 after a restart, for hours: an attacker's run). The next
// SetSnapshot lists the archives anew.
func (s *Server) AddArchive(name string) {
	if sn := s.snap.Load(); sn != nil {
		sn.later.Store(name, struct{}{})
	}
}

// Withhold stops serving the archive named, whatever the snapshot lists,
// with a 503 that says why (torrentmeta.HeaderWithheld): the seeder found
// its copy no longer matches the torrent. Served, its pieces failed every
// client's check, and a client whose download went to the web seed ended
// with "the publisher's copy is damaged" even where peers held good copies.
// Serve undoes it.
func (s *Server) Withhold(name string) { s.withheld.Store(name, struct{}{}) }

// Serve serves the archive named again (see Withhold).
func (s *Server) Serve(name string) { s.withheld.Delete(name) }

// SetKey publishes the server's public key at /key, so that a client without
// a configured key can pin it on first use.
func (s *Server) SetKey(k signing.PublicKey) {
	k = append(signing.PublicKey(nil), k...)
	s.key.Store(&k)
}

// SetRotation publishes the key rotation chain (signing.MarshalRotations)
// at packages.db.rotation; nil means the key never rotated (404). The
// server keeps b: the caller must not modify it afterwards.
func (s *Server) SetRotation(b []byte) {
	if b == nil {
		s.rotation.Store(nil)
		return
	}
	s.rotation.Store(&b)
}

// Serial returns the serial being served, 0 before the first SetSnapshot.
func (s *Server) Serial() int64 {
	if sn := s.snap.Load(); sn != nil {
		return sn.serial
	}
	return 0
}

// Handler returns the HTTP handler for all endpoints.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// serveHTTP routes by exact path. It does not use http.ServeMux, which
// answers unclean paths ("/packages/../x") with a redirect: here anything
// that is not exactly a known path is a plain 404.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	r = httprange.Limit(r)
	p := r.URL.Path
	switch {
	case p == PathCatalog || p == PathSignature:
		if allowed(w, r) {
			s.serveCatalogFile(w, r, p)
		}
	case strings.HasPrefix(p, PathArchives):
		if allowed(w, r) {
			s.serveArchive(w, r, strings.TrimPrefix(p, PathArchives))
		}
	case p == PathKey:
		if allowed(w, r) {
			s.serveKey(w)
		}
	case p == PathRotation:
		if allowed(w, r) {
			s.serveRotation(w, r)
		}
	case p == PathHealth:
		if allowed(w, r) {
			s.serveHealth(w)
		}
	case p == PathMetrics && !s.noMetrics:
		if !fromLoopback(r) {
			http.Error(w, "/metrics on this port is served to loopback only; metrics_addr in server.yaml serves it elsewhere", http.StatusForbidden)
			return
		}
		if allowed(w, r) {
			s.metrics.ServeHTTP(w, r)
		}
	default:
		http.NotFound(w, r)
	}
}

// fromLoopback tells a request from this machine. /metrics on the public
// catalog port is for a local scraper only (DESIGN §2: metrics default to
// loopback): it names every package with its download count, which is the
// publisher's business, and its exposition is the largest answer on the
// port after the archives.
func fromLoopback(r *http.Request) bool {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

// allowed answers 405 to anything but GET and HEAD.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method "+r.Method+" not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
	return false
}

func (s *Server) serveCatalogFile(w http.ResponseWriter, r *http.Request, p string) {
	file := strings.TrimPrefix(p, "/")
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() { s.requests.WithLabelValues(file, strconv.Itoa(rec.code)).Inc() }()

	sn := s.snap.Load() // once: the rest of the request uses this snapshot only
	if sn == nil {
		http.Error(rec, strings.TrimSuffix(notPublished, "\n"), http.StatusServiceUnavailable)
		return
	}
	body, ctype := sn.db, ContentTypeCatalog
	if p == PathSignature {
		body, ctype = sn.sig, ContentTypeSignature
	}
	h := rec.Header()
	h.Set("Content-Type", ctype)
	h.Set("ETag", sn.etag)
	// no-cache: caches may keep the file but must revalidate, so a new
	// publication is seen at once while an unchanged one costs a 304.
	h.Set("Cache-Control", "no-cache")
	h.Set(HeaderSerial, strconv.FormatInt(sn.serial, 10))
	// ServeContent handles If-None-Match (304), If-Match, HEAD and Range
	// against the ETag set above. No modification time: two publications
	// in one second would fool If-Modified-Since, the ETag never is.
	http.ServeContent(rec, r, file, time.Time{}, bytes.NewReader(body))
}

func (s *Server) serveKey(w http.ResponseWriter) {
	k := s.key.Load()
	if k == nil {
		http.Error(w, "this server publishes no key: configure server_key from `dist-server key`", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprintln(w, k.String())
}

func (s *Server) serveRotation(w http.ResponseWriter, r *http.Request) {
	b := s.rotation.Load()
	if b == nil {
		http.Error(w, "this server's key never rotated", http.StatusNotFound)
		return
	}
	sum := sha256.Sum256(*b)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(*b))
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.snap.Load() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, notPublished)
		return
	}
	fmt.Fprintln(w, "ok")
}

// statusRecorder remembers the status code for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
