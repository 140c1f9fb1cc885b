// Package swarm is the one owner of the BitTorrent engine
// (github.com/anacrolix/torrent). The server's seeder and the client's
// downloader both run through an Engine, so they share one way to run
// BitTorrent: the settings measured in shared/ANACROLIX.md live here and
// nowhere else.
package swarm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/storage"
	"golang.org/x/time/rate"
)

// Config sets up an Engine.
type Config struct {
	// Dir holds the payload files: each archive lives at Dir/<name in the torrent>.
	Dir string
	// ListenAddr is host:port for peer connections; port 0 picks a free one.
	ListenAddr string
	// UploadRate and DownloadRate cap payload bytes per second; 0 = unlimited.
	UploadRate, DownloadRate int64
	// DisableTrackers stops announcing (the server registers its seeder in
	// its embedded tracker directly).
	DisableTrackers bool
	// DisablePEX turns off peer exchange (BEP 11).
	DisablePEX bool
	// PublisherQueue, when above zero, makes this engine ask its peers (in
	// its BEP 10 handshake) to keep at most that many chunk requests queued
	// at it. dist-server sets it when its upload is capped; see
	// limitPublisherRequests.
	PublisherQueue int
	// PeersPerTorrent caps the connections kept per torrent; 0 means
	// ClientPeersPerTorrent. dist-server sets PublisherSlots when its upload
	// is capped (with PublisherQueue) and UncappedPublisherPeers otherwise.
	PeersPerTorrent int
	// WebSeedAfter is how long a download may receive nothing from peers
	// before it fetches the missing pieces from the torrent's web seeds;
	// 0 means DefaultWebSeedAfter.
	WebSeedAfter time.Duration
	// Logger receives the library's logs; nil discards them.
	Logger *slog.Logger
}

// Engine runs one BitTorrent client.
type Engine struct {
	cl     *torrent.Client
	store  storage.ClientImplCloser
	files  *fileStorage
	states *pieceStates
	http   *http.Client // for web seeds
	// webSeedAfter: see Config.WebSeedAfter.
	webSeedAfter time.Duration
	// disableTrackers: see Config.DisableTrackers.
	disableTrackers bool
	dir             string
	logger          *slog.Logger
	addr            netip.AddrPort

	webBytes atomic.Int64  // payload bytes fetched from web seeds
	down     *rate.Limiter // download cap, also for web seeds; nil = none

	mu       sync.Mutex
	torrents map[metainfo.Hash]*torrent.Torrent // guarded by mu
	fetches  map[metainfo.Hash]*webFetch        // running web-seed fetches; guarded by mu
	stop     chan struct{}                      // closed by Close
}

// quietGlobal guards the library's global logger, which is not safe to
// change while the library runs.
var quietGlobal sync.Once

// RouteLibraryLogs sends the library's global logger (used by parts that
// take no logger, such as its tracker server) to logger instead of stderr.
// Only the first call counts; make it before starting any engine or tracker.
func RouteLibraryLogs(logger *slog.Logger) {
	quietGlobal.Do(func() {
		alog.Default.SetHandlers(alog.SlogHandlerAsHandler{SlogHandler: logger.Handler()})
	})
}

// New starts an engine listening on cfg.ListenAddr.
func New(cfg Config) (*Engine, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	RouteLibraryLogs(logger)
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("swarm: %w", err)
	}
	host, portText, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("swarm: peer address %q: %w", cfg.ListenAddr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("swarm: peer address %q: bad port", cfg.ListenAddr)
	}

	tc := torrent.NewDefaultClientConfig()
	tc.Slogger = logger
	tc.ListenHost = func(network string) string { return host }
	tc.ListenPort = port
	tc.NoDHT = true
	tc.DisableUTP = true // uTP on loopback ran at ~2 MiB/s against ~100 MiB/s TCP
	tc.DisableIPv6 = host == "" || net.ParseIP(host).To4() != nil
	tc.DisablePEX = cfg.DisablePEX
	tc.DisableWebtorrent = true
	tc.DisableWebseeds = true
	tc.NoDefaultPortForwarding = true
	tc.DisableTrackers = cfg.DisableTrackers
	// Without Seed a complete client refuses incoming connections; every
	// distpac node shares what it has.
	tc.Seed = true
	// The default of 1 MiB deadlocks the upload path (ANACROLIX.md).
	tc.MaxAllocPeerRequestDataPerConn = 16 << 20
	// Loopback and LAN swarms have many peers on one IP.
	tc.DropDuplicatePeerIds = true
	tc.EstablishedConnsPerTorrent = ClientPeersPerTorrent
	if cfg.PeersPerTorrent > 0 {
		tc.EstablishedConnsPerTorrent = cfg.PeersPerTorrent
	}
	if cfg.PublisherQueue > 0 {
		tc.ExtendedHandshakeClientVersion = fmt.Sprintf("%s%d", publisherVersion, cfg.PublisherQueue)
	}
	tc.Callbacks.ReadExtendedHandshake = limitPublisherRequests
	if cfg.UploadRate > 0 {
		tc.UploadRateLimiter = limiter(cfg.UploadRate)
	}
	var down *rate.Limiter
	if cfg.DownloadRate > 0 {
		down = limiter(cfg.DownloadRate)
		tc.DownloadRateLimiter = down
	}
	states := newPieceStates()
	store := storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: cfg.Dir,
		// The payload file is Dir/<torrent name>, exactly where the store
		// and the cache keep archives.
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: states,
		Logger:          logger,
	})
	files := newFileStorage(store, cfg.Dir)
	tc.DefaultStorage = files
	cl, err := torrent.NewClient(tc)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("swarm: listen on %s: %w", cfg.ListenAddr, err)
	}
	e := &Engine{cl: cl, store: store, files: files, states: states, down: down, fetches: map[metainfo.Hash]*webFetch{}, http: webSeedClient(), webSeedAfter: cmp.Or(cfg.WebSeedAfter, DefaultWebSeedAfter), disableTrackers: cfg.DisableTrackers, dir: cfg.Dir, logger: logger, torrents: map[metainfo.Hash]*torrent.Torrent{}, stop: make(chan struct{})}
	e.addr = listenAddr(cl, host)
	if cfg.UploadRate > 0 {
		go e.nudgeWriters()
	}
	return e, nil
}

// nudgeInterval bounds how long a capped upload can sit idle.
const nudgeInterval = 100 * time.Millisecond

// nudgeWriters works around a lost wake-up in the library's capped upload
// path. When the rate limiter makes a chunk wait, the connection's writer
// arms a timer to wake itself, then goes to sleep; a timer that fires in
// between (likely when the wait is short, about 1 ms per chunk at 16 MiB/s)
// wakes nobody, and the writer sleeps until the next event on that
// connection. A seeder's connection may have none: a 64 MiB download from a
// seeder capped at 16 MiB/s stopped after 16 MiB, for good (e2e
// TestThrottledServerUpload, swarm TestThrottledSeeder). Every complete
// torrent is poked here a few times a second; DisallowDataDownload is the
// library's public call that wakes every connection's writer, and a
// complete torrent has nothing left to download.
func (e *Engine) nudgeWriters() {
	tick := time.NewTicker(nudgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		e.mu.Lock()
		ts := make([]*torrent.Torrent, 0, len(e.torrents))
		for _, t := range e.torrents {
			ts = append(ts, t)
		}
		e.mu.Unlock()
		for _, t := range ts {
			if t.Complete().Bool() {
				t.DisallowDataDownload()
			}
		}
	}
}

// publisherVersion starts the client name that a capped dist-server gives
// in its BEP 10 extended handshake, followed by the queue depth it wants.
const publisherVersion = "distpac-server reqq="

// DefaultPublisherQueue is the queue depth a capped publisher asks for.
//
// The library queues up to the peer's "reqq" (1024 chunks, 16 MiB) at a
// peer. At a seeder whose capped uplink is the swarm's bottleneck, such a
// queue is served seconds later, when other peers already have those
// pieces: the seeder then sends the same piece to many peers. Measured with
// `make bench-swarm` (N=16, F=16 MiB, U=u=2 MiB/s, same run conditions):
// queue 1024: seeder upload 1.46×F, time 1.50× the Kumar–Ross bound;
// queue 16: 1.29×F, 1.33×; 8: 1.21×F, 1.25×; 4: 1.15×F, 1.20×; 2: 5.4×F
// (too short to keep the link busy). A short queue costs throughput only
// where the round trip is long (4 chunks of 16 KiB allow 640 KiB/s per
// connection at 100 ms), so only a publisher that declares its uplink
// scarce (upload_rate_limit) asks for it.
const DefaultPublisherQueue = 4

// PublisherSlots is how many peers a capped publisher serves per
// torrent at once. Fewer direct downloaders means fewer of them ask the
// seeder for the same piece; each gets a larger share of the uplink, so its
// pieces are complete and shareable sooner. Measured like the queue above,
// with the queue at 4: seeder 1.14–1.17×F → 1.10–1.11×F, time 1.20–1.22 →
// 1.14–1.17× the bound at N=16 (N=4 unchanged).
const PublisherSlots = 4

// UncappedPublisherPeers is the library's default, kept for a publisher
// whose uplink is not declared scarce: it serves whoever asks.
const UncappedPublisherPeers = 50

// ClientPeersPerTorrent caps the connections a client keeps per torrent (the
// library's default is 50). The library serves every interested peer at
// once, without choking, so each connection of a full mesh carries a thin
// trickle, and every piece verified costs a HAVE to each of them. Measured
// with `make bench-swarm` (F=16 MiB, U=u=2 MiB/s, one run after another):
// N=32 with 50: 11.0–11.7 s (1.38–1.46× the bound), seeder 1.20×F, clients
// up to 1.10×F, daemons 49 MiB, CPU saturated; with 8: 10.2–10.5 s, 1.11–
// 1.16×F, 1.04×F, 35 MiB, 10 % less CPU. N=16: 1.15–1.16× → 1.13–1.15×,
// CPU 14.4–14.8 s → 11.8–12.8 s. 4 and 6 measured the same as 8.
const ClientPeersPerTorrent = 8

// peerQueue caps the chunk requests this client keeps queued at any peer.
// The library would queue up to the peer's reqq (1024 chunks, 16 MiB), and
// a peer holds the data of queued requests in memory while its capped
// uplink drains them; 64 chunks (1 MiB) still keep 10 MiB/s flowing per
// connection at a 100 ms round trip.
const peerQueue = 64

// limitPublisherRequests runs as the library reads a peer's extended
// handshake, before it applies the peer's reqq: a distpac publisher's wish
// for a short queue becomes the reqq this client honours, and every other
// peer gets at most peerQueue.
func limitPublisherRequests(_ *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	limit := peerQueue
	if rest, ok := strings.CutPrefix(m.V, publisherVersion); ok {
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			limit = min(limit, n)
		}
	}
	if m.Reqq == 0 || m.Reqq > limit {
		m.Reqq = limit
	}
}

// limiter builds a token bucket for bytes per second. The burst must be at
// least one chunk (16 KiB) or the library panics, and must be explicit: a
// zero burst lets the first 16 MiB through unthrottled. A tenth of a second
// of tokens keeps the rate within a few percent over any 10 s window.
func limiter(bps int64) *rate.Limiter {
	burst := bps / 10
	if burst < 16<<10 {
		burst = 16 << 10
	}
	return rate.NewLimiter(rate.Limit(bps), int(burst))
}

func listenAddr(cl *torrent.Client, host string) netip.AddrPort {
	ip := netip.IPv4Unspecified()
	if a, err := netip.ParseAddr(host); err == nil {
		ip = a
	}
	return netip.AddrPortFrom(ip, uint16(cl.LocalPort()))
}

// Addr is the address peers connect to (unspecified host when listening on all).
func (e *Engine) Addr() netip.AddrPort { return e.addr }

// Port is the listening peer port.
func (e *Engine) Port() int { return int(e.addr.Port()) }

// Dir is where payload files live.
func (e *Engine) Dir() string { return e.dir }

// Close stops the engine and closes every connection.
func (e *Engine) Close() error {
	close(e.stop)
	e.stopWebFetches()
	leaving := e.stoppedAnnounces()
	errs := e.cl.Close()
	sendStopped(leaving)
	err := e.store.Close()
	return errors.Join(append(errs, err)...)
}

// Progress reports a download's state.
type Progress struct {
	Done, Total int64
	Peers       int
}

// add registers the torrent (idempotent) and wants all of it.
func (e *Engine) add(torrentBytes []byte) (*torrent.Torrent, error) {
	mi, err := metainfo.Load(bytes.NewReader(torrentBytes))
	if err != nil {
		return nil, fmt.Errorf("swarm: torrent: %w", err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("swarm: torrent info: %w", err)
	}
	// The library names the file by name.utf-8 when present; distpac's
	// storage and cache go by name.
	if len(info.Files) != 0 || info.Name != filepath.Base(info.Name) || info.Name == "." || info.Name == ".." ||
		(info.NameUtf8 != "" && info.NameUtf8 != info.Name) {
		return nil, fmt.Errorf("swarm: torrent %q: want a single file with a plain name", info.Name)
	}
	// A torrent this engine already holds as complete whose file was
	// removed since (dist-client clean, or a corrupt copy deleted before a
	// new download) must start again, not report success at once.
	ih := mi.HashInfoBytes()
	if e.Has(ih) {
		if st, err := os.Stat(filepath.Join(e.dir, info.Name)); err != nil || st.Size() != info.Length {
			e.Drop(ih)
		}
	}
	t, err := e.cl.AddTorrent(mi)
	if err != nil {
		return nil, fmt.Errorf("swarm: add %s: %w", info.Name, err)
	}
	e.mu.Lock()
	e.torrents[t.InfoHash()] = t
	e.mu.Unlock()
	t.DownloadAll()
	return t, nil
}

// Seed starts sharing a complete archive that already lies in Dir. With
// verify the payload is hashed first (the library trusts a full-size file
// otherwise); Seed fails if any piece is bad.
func (e *Engine) Seed(ctx context.Context, torrentBytes []byte, verify bool) (metainfo.Hash, error) {
	t, err := e.add(torrentBytes)
	if err != nil {
		return metainfo.Hash{}, err
	}
	if verify {
		if err := t.VerifyDataContext(ctx); err != nil {
			e.Drop(t.InfoHash())
			return metainfo.Hash{}, fmt.Errorf("swarm: verify %s: %w", t.Name(), err)
		}
	}
	// The Complete flag is set asynchronously after hashing; the count of
	// missing bytes is current.
	if missing := t.BytesMissing(); missing != 0 {
		e.Drop(t.InfoHash())
		return metainfo.Hash{}, fmt.Errorf("swarm: seed %s: %d bytes missing or corrupt in %s", t.Name(), missing, e.dir)
	}
	return t.InfoHash(), nil
}

// Download fetches the torrent's file into Dir and returns when every piece
// is verified. The torrent stays in the engine afterwards, seeding, until
// Drop. progress (may be nil) is called a few times a second.
func (e *Engine) Download(ctx context.Context, torrentBytes []byte, peers []netip.AddrPort, progress func(Progress)) error {
	t, err := e.add(torrentBytes)
	if err != nil {
		return err
	}
	// A chunk that cannot be written (a full disk, an I/O error) ends the
	// download at once with the OS's error, which names the file; by
	// default the library stops downloading silently and the download
	// stalls until the caller's timeout blames the peers.
	writeErr := make(chan error, 1)
	onWriteErr := func(err error) {
		select {
		case writeErr <- err:
		default:
		}
	}
	t.SetOnWriteChunkError(onWriteErr)
	addPeers := func() {
		if len(peers) == 0 {
			return
		}
		pis := make([]torrent.PeerInfo, 0, len(peers))
		for _, p := range peers {
			pis = append(pis, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(p)), Trusted: true})
		}
		t.AddPeers(pis)
	}
	addPeers()
	report := func() {
		if progress != nil {
			st := t.Stats()
			progress(Progress{Done: t.BytesCompleted(), Total: t.Length(), Peers: st.ActivePeers})
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	// Progress for stall detection is payload received from peers (a slow
	// link may take a while to finish one piece) or pieces completed (the
	// web seeds' pieces show up there).
	received := func() int64 { st := t.Stats(); return st.BytesReadData.Int64() + t.BytesCompleted() }
	lastRead, moved, restarts := received(), time.Now(), 0
	// One web-seed fetch at a time per torrent; when one ends without
	// finishing, the next seed is tried e.webSeedAfter after its start.
	ih := t.InfoHash()
	seeds := webSeeds(torrentBytes)
	nextSeed, lastWeb := 0, time.Time{}
	defer e.stopWebFetch(ih)
	for {
		select {
		case <-t.Complete().On():
			report()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-writeErr:
			return fmt.Errorf("swarm: saving %s: %w", t.Name(), err)
		case <-tick.C:
			report()
		}
		if n := received(); n != lastRead {
			lastRead, moved = n, time.Now()
			continue
		}
		if len(seeds) > 0 && time.Since(moved) > e.webSeedAfter && time.Since(lastWeb) > e.webSeedAfter {
			seed := seeds[nextSeed%len(seeds)]
			if e.startWebFetch(t, seed) {
				nextSeed++
				lastWeb = time.Now()
				e.logger.Info("no data from peers; fetching the missing pieces from a web seed", "torrent", t.Name(), "seed", seed, "idle", time.Since(moved).Round(time.Second))
			}
		}
		// The library can wedge a connection (seen once in many runs under
		// heavy load, after a peer was killed mid-transfer): with peers
		// connected nothing arrives. Starting the torrent afresh keeps the
		// verified pieces (Drop forgets their state, so the part file is
		// hashed again) and reconnects.
		if time.Since(moved) > stallRestart && t.Stats().ActivePeers > 0 && restarts < 3 {
			restarts++
			e.logger.Warn("download stalled with peers connected; restarting it", "torrent", t.Name(), "attempt", restarts)
			e.Drop(ih)
			if t, err = e.add(torrentBytes); err != nil {
				return err
			}
			t.SetOnWriteChunkError(onWriteErr)
			addPeers()
			lastRead, moved = received(), time.Now()
		}
	}
}

// stallRestart is how long a download may sit still with peers connected
// before it is started afresh.
const stallRestart = 10 * time.Second

// Drop stops sharing a torrent. Its file stays on disk.
func (e *Engine) Drop(ih metainfo.Hash) {
	// A web-seed fetch must end first: the library's piece verification
	// keeps its client lock for good when the torrent closes under it.
	e.stopWebFetch(ih)
	defer e.states.forget(ih)
	e.mu.Lock()
	t, ok := e.torrents[ih]
	delete(e.torrents, ih)
	e.mu.Unlock()
	if ok {
		t.Drop()
	}
}

// Has reports whether the engine shares the torrent.
func (e *Engine) Has(ih metainfo.Hash) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.torrents[ih]
	return ok
}

// Stats are engine-wide counters.
type Stats struct {
	Torrents   int
	Peers      int   // connected peers, summed over torrents
	Uploaded   int64 // payload bytes sent
	Downloaded int64 // payload bytes received (from peers and web seeds)
}

// Stats returns engine-wide counters.
func (e *Engine) Stats() Stats {
	cs := e.cl.Stats()
	e.mu.Lock()
	ts := make([]*torrent.Torrent, 0, len(e.torrents))
	for _, t := range e.torrents {
		ts = append(ts, t)
	}
	e.mu.Unlock()
	s := Stats{Torrents: len(ts), Uploaded: cs.BytesWrittenData.Int64(), Downloaded: cs.BytesReadData.Int64() + e.webBytes.Load()}
	for _, t := range ts {
		s.Peers += t.Stats().ActivePeers
	}
	return s
}

// InfoHash names a torrent (BitTorrent v1).
type InfoHash = metainfo.Hash

// ParseInfoHash reads a 40-digit hex infohash.
func ParseInfoHash(s string) (InfoHash, error) {
	var h InfoHash
	if err := h.FromHexString(s); err != nil {
		return h, fmt.Errorf("infohash %q: %w", s, err)
	}
	return h, nil
}
