// Package swarm is the one owner of the BitTorrent engine
// (github.com/anacrolix/torrent). The server's seeder and the client's
// downloader both run through an Engine, so they share one way to run
// BitTorrent: the settings measured in shared/ANACROLIX.md live here and
// nowhere else.
package swarm

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
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
	// UploadLimiter, with UploadRate, is the limiter of that rate when
	// another sender shares the uplink (NewLimiter): a server's web
	// seed and its seeder take their bytes from one. nil: the engine's own.
	UploadLimiter *rate.Limiter
	// DisableTrackers stops announcing (the server registers its seeder in
	// its embedded tracker directly). The library's own tracker client is
	// always off; see announce.go.
	DisableTrackers bool
	// DisablePEX turns off peer exchange (BEP 11).
	DisablePEX bool
	// PublisherQueue, when above zero, makes this engine ask its peers (in
	// its BEP 10 handshake) to keep at most that many chunk requests queued
	// at it. dist-server sets it when its upload is capped; see
	// limitPublisherRequests.
	PublisherQueue int
	// Server marks a dist-server seeder, the publisher's or a mirror's: it
	// names itself so in its BEP 10 handshake (serverVersion), and a
	// client with its host in server_urls counts what it sent as a
	// server's (Transfer.FromMirrors), not another peer's.
	Server bool
	// Mirror marks a second seed of a publisher's torrents (dist-server
	// mirror): with PublisherQueue it gives its pieces out from the last
	// one down, where the publisher gives them from the first up, so that
	// the two meet once instead of sending the same pieces (third_party
	// patch 47).
	Mirror bool
	// PeersPerTorrent caps the connections kept per torrent; 0 means
	// ClientPeersPerTorrent. dist-server sets PublisherSlots when its upload
	// is capped (with PublisherQueue) and UncappedPublisherPeers otherwise.
	PeersPerTorrent int
	// WebSeedAfter is how long a download may receive nothing from peers
	// before it fetches the missing pieces from the torrent's web seeds;
	// 0 means DefaultWebSeedAfter.
	WebSeedAfter time.Duration
	// MirrorWebSeeds are folders holding the archives by name (MirrorSeed
	// of each of a client's server_urls): web seeds tried before a
	// torrent's own, and for a torrent that names none, the last resort
	// when BitTorrent has no source (WebSeedOrder).
	MirrorWebSeeds []string
	// GiveUpAfter is how long a download may go with no peer connected
	// that has a piece it lacks (or gained one), nothing received and no
	// web seed working before it fails with a NoSourceError; 0 means
	// DefaultGiveUpAfter.
	GiveUpAfter time.Duration
	// BusyWait is how long a download whose only sources are web seeds
	// answering busy (503 or 429 with Retry-After) waits for them before
	// it fails with a NoSourceError; 0 means DefaultBusyWait.
	BusyWait time.Duration
	// TransferKeep is how long the report of a torrent's last download is
	// kept after the download ended (Transfer, Stopped); 0 means
	// transferKeep (a minute). Tests shorten it.
	TransferKeep time.Duration
	// RequestBudget bounds the memory held for peers' queued requests,
	// over all connections; 0 means DefaultRequestBudget.
	RequestBudget int64
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
	// mirrorSeeds: see Config.MirrorWebSeeds; SetMirrorWebSeeds replaces
	// it while downloads run, each of which takes it once, as it starts.
	mirrorSeeds atomic.Pointer[[]string]
	// servers is the addresses of the hosts of mirrorSeeds: a dist-server
	// seeder there is a server's (serverpeers.go).
	servers serverHosts
	mirror  bool // Config.Mirror
	// giveUpAfter: see Config.GiveUpAfter.
	giveUpAfter time.Duration
	// busyWait: see Config.BusyWait.
	busyWait time.Duration
	ann      *announcer // nil when Config.DisableTrackers
	dir      string
	logger   *slog.Logger
	addr     netip.AddrPort
	queues   *requestQueues
	// stallAfter is stallRestart (download.go); a test shortens it
	// before any Download.
	stallAfter time.Duration
	// forgetAfter: see Config.TransferKeep (transferKeep, transfer.go).
	forgetAfter time.Duration

	webBytes atomic.Int64 // payload bytes fetched from web seeds
	// transfers holds, by InfoHash, the *transferState of the last
	// download of each torrent, until transferKeep after it ended
	// (forgetTransferLater).
	transfers sync.Map
	// forgets holds the timer that forgets each torrent's state
	// (forgetTransferLater), nil once the engine closed; guarded by
	// forgetMu.
	forgetMu sync.Mutex
	forgets  map[metainfo.Hash]*time.Timer

	status *statusBook
	down   *rate.Limiter // download cap, also for web seeds; nil = none
	// downloading holds a token for each Download between its start and its
	// end: at most maxDownloadsAtOnce (download.go).
	downloading chan struct{}

	// checked is each shared torrent's file as it was when last found
	// whole (RecheckChanged).
	checked checkedFiles

	// dials is how the last dial to each seeder a download watches
	// ended (refused.go).
	dials *dialBook

	// vanishMu orders dropping a torrent whose payload vanished
	// (dropVanished) against a Download's add and start.
	vanishMu sync.Mutex

	mu       sync.Mutex
	torrents map[metainfo.Hash]*torrent.Torrent // guarded by mu
	// callers counts the Download calls running for each torrent; guarded
	// by mu (abandon).
	callers   map[metainfo.Hash]int
	fetches   map[metainfo.Hash]*webFetch  // running web-seed fetches; guarded by mu
	hedges    map[metainfo.Hash]*webFetch  // running hedges of a fetch's held piece (hedge.go); guarded by mu
	webErrs   map[metainfo.Hash]seedErrors // each torrent's web-seed failures since one last worked; guarded by mu
	stop      chan struct{}                // closed by Close
	closeOnce sync.Once
	closeErr  error
}

// quietGlobal guards the library's global logger, which is not safe to
// change while the library runs.
var quietGlobal sync.Once

// RouteLibraryLogs sends the library's global logger (used by parts that
// take no logger, such as its tracker server) to logger instead of stderr.
// Only the first call counts; make it before starting any engine or tracker.
// Its records are bounded as an engine's are (libraryHandler).
func RouteLibraryLogs(logger *slog.Logger) {
	quietGlobal.Do(func() {
		alog.Default.SetHandlers(alog.SlogHandlerAsHandler{SlogHandler: newLibraryHandler(logger.Handler())})
	})
}

// New starts an engine listening on cfg.ListenAddr. Engines set the
// runtime's soft memory limit (SoftMemoryLimit) unless GOMEMLIMIT is set.
func New(cfg Config) (*Engine, error) {
	adjustMemoryLimit(0)
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

	tc := libraryConfig(cfg, host, port, logger)
	queues := &requestQueues{}
	var e *Engine // the callbacks below run only once the engine exists
	tc.Callbacks.ReadExtendedHandshake = func(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
		queues.onHandshake(pc, m)
		if e != nil && pc != nil {
			e.onPeerSpoke(pc)
		}
	}
	tc.Callbacks.CompletedHandshake = func(pc *torrent.PeerConn, ih torrent.InfoHash) {
		if e != nil {
			e.onPeerHandshake(pc, ih)
		}
	}
	tc.Callbacks.ReceivedUsefulData = append(tc.Callbacks.ReceivedUsefulData, func(ev torrent.ReceivedUsefulDataEvent) {
		if e != nil {
			e.onUsefulData(ev)
		}
	})
	// A piece the publisher's seeders alone sent that failed its hash
	// counts towards DamagedError, as it fails (third_party patch 54).
	tc.Callbacks.PieceHashFailed = append(tc.Callbacks.PieceHashFailed, func(ev torrent.PieceHashFailedEvent) {
		if e == nil || !ev.OnlyTrusted {
			return
		}
		if s := e.lastTransfer(ev.Torrent.InfoHash()); s != nil {
			s.seederSentBad()
		}
	})
	if cfg.UploadRate > 0 {
		tc.UploadRateLimiter = cfg.UploadLimiter
		if tc.UploadRateLimiter == nil {
			tc.UploadRateLimiter = NewLimiter(cfg.UploadRate)
		}
	}
	var down *rate.Limiter
	if cfg.DownloadRate > 0 {
		down = NewLimiter(cfg.DownloadRate)
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
	files := newFileStorage(store, cfg.Dir, states)
	tc.DefaultStorage = files
	cl, err := torrent.NewClient(tc)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("swarm: listen on %s: %w", cfg.ListenAddr, err)
	}
	dials := &dialBook{}
	for _, l := range cl.Listeners() {
		if d, ok := l.(torrent.Dialer); ok {
			cl.AddDialer(notingDialer{Dialer: d, book: dials})
		}
	}
	e = &Engine{status: newStatusBook(), cl: cl, store: store, files: files, states: states, down: down, fetches: map[metainfo.Hash]*webFetch{}, hedges: map[metainfo.Hash]*webFetch{}, webErrs: map[metainfo.Hash]seedErrors{}, http: webSeedClient(), webSeedAfter: cmp.Or(cfg.WebSeedAfter, DefaultWebSeedAfter), giveUpAfter: cmp.Or(cfg.GiveUpAfter, DefaultGiveUpAfter), busyWait: cmp.Or(cfg.BusyWait, DefaultBusyWait), stallAfter: stallRestart, forgetAfter: cmp.Or(cfg.TransferKeep, transferKeep), forgets: map[metainfo.Hash]*time.Timer{}, dir: cfg.Dir, logger: logger, torrents: map[metainfo.Hash]*torrent.Torrent{}, callers: map[metainfo.Hash]int{}, stop: make(chan struct{}), downloading: make(chan struct{}, maxDownloadsAtOnce)}
	e.SetMirrorWebSeeds(cfg.MirrorWebSeeds)
	e.mirror = cfg.Mirror
	e.dials = dials
	files.gone = func(ih metainfo.Hash) { go e.payloadGone(ih) } // a read's goroutine must not wait for Drop
	e.addr = listenAddr(cl, host)
	e.queues = queues
	registerEngine(e)
	go e.sampleRates()
	if !cfg.DisableTrackers {
		e.ann = newAnnouncer(e.addr.Addr(), e.addr.Port(), cl.PeerID(), logger)
	}
	return e, nil
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

// Close stops the engine and closes every connection. Later calls return
// the first call's error.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Engine) close() error {
	unregisterEngine(e)
	close(e.stop)
	e.stopWebFetches()
	e.stopForgetting()
	if e.ann != nil {
		e.ann.close() // before the library closes: the "stopped" announces read its counters
	}
	errs := e.cl.Close()
	err := e.store.Close()
	e.mu.Lock()
	n := len(e.torrents)
	e.mu.Unlock()
	adjustMemoryLimit(-int64(n))
	return errors.Join(append(errs, err)...)
}

// Progress reports a download's state.
type Progress struct {
	Done, Total int64
	Peers       int
	// Prefix is how many bytes from the start of the torrent's file are
	// in complete, verified pieces: what a reader may take while the rest
	// arrives (an install unpacks the archive that far).
	Prefix int64
	// Busy, while set, is the web seed the download waits for: every
	// seed answered busy and nothing came for a second (strandedAfter)
	// from any peer (BusySeed); nil otherwise.
	Busy *BusySeed
	// Sources is what the peers and each web seed sent so far, as it
	// came: Done counts a web seed's bytes only once a piece is whole,
	// which a slow one may take minutes for (dist-client's stall
	// watchdog counts these).
	Sources Sources
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

// SetMirrorWebSeeds replaces Config.MirrorWebSeeds for the downloads that
// start from now on: the order to try the servers in changes while a
// daemon runs (one that failed a sync goes last, catalogclient.OrderServers),
// and a daemon that kept the order it started with sent every install to
// a server the last sync had found down first.
func (e *Engine) SetMirrorWebSeeds(seeds []string) {
	seeds = slices.Clone(seeds)
	e.mirrorSeeds.Store(&seeds)
	e.servers.set(seeds, e.stop)
}

// MirrorWebSeeds is the mirrors the next download tries, in order.
func (e *Engine) MirrorWebSeeds() []string { return slices.Clone(*e.mirrorSeeds.Load()) }

// prefixBytes is the length of the torrent's complete prefix in bytes.
func prefixBytes(t *torrent.Torrent) int64 {
	info := t.Info()
	if info == nil {
		return 0
	}
	n := t.PrefixComplete()
	if n >= info.NumPieces() {
		return info.TotalLength()
	}
	return int64(n) * info.PieceLength
}
