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
	// GiveUpAfter is how long a download may go with no peer connected,
	// nothing received and no web seed working before it fails with a
	// NoSourceError; 0 means DefaultGiveUpAfter.
	GiveUpAfter time.Duration
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
	mirror      bool // Config.Mirror
	// giveUpAfter: see Config.GiveUpAfter.
	giveUpAfter time.Duration
	ann         *announcer // nil when Config.DisableTrackers
	dir         string
	logger      *slog.Logger
	addr        netip.AddrPort
	queues      *requestQueues
	// stallAfter is stallRestart (download.go); a test shortens it
	// before any Download.
	stallAfter time.Duration

	webBytes  atomic.Int64 // payload bytes fetched from web seeds
	transfers sync.Map     // InfoHash -> *transferState of the last download of each torrent
	status    *statusBook
	down      *rate.Limiter // download cap, also for web seeds; nil = none
	// downloading holds a token for each Download between its start and its
	// end: at most maxDownloadsAtOnce (download.go).
	downloading chan struct{}

	// checked is each shared torrent's file as it was when last found
	// whole (RecheckChanged).
	checked checkedFiles

	// vanishMu orders dropping a torrent whose payload vanished
	// (dropVanished) against a Download's add and start.
	vanishMu sync.Mutex

	mu       sync.Mutex
	torrents map[metainfo.Hash]*torrent.Torrent // guarded by mu
	// callers counts the Download calls running for each torrent; guarded
	// by mu (abandon).
	callers   map[metainfo.Hash]int
	fetches   map[metainfo.Hash]*webFetch  // running web-seed fetches; guarded by mu
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

	tc := torrent.NewDefaultClientConfig()
	tc.Slogger = slog.New(newLibraryHandler(logger.Handler()))
	tc.ListenHost = func(network string) string { return host }
	tc.ListenPort = port
	tc.NoDHT = true
	tc.DisableUTP = true // uTP on loopback ran at ~2 MiB/s against ~100 MiB/s TCP
	tc.DisableIPv6 = host == "" || net.ParseIP(host).To4() != nil
	tc.DisablePEX = cfg.DisablePEX
	tc.DisableWebtorrent = true
	// No ut_holepunch (BEP 55; third_party patch 50): it opens a way
	// through NAT for uTP, which is off. A peer's "connect" messages made
	// the publisher's seeder dial 2,000 times in 10 ms, and a daemon
	// 15,000, any address the peer named (an attacker's run).
	tc.DisableUtHolepunch = true
	// Plain BitTorrent handshakes (incoming obfuscated ones are still
	// accepted): message stream encryption hides nothing that matters here
	// (every piece is checked against its hash) and costs a Diffie–Hellman
	// exchange per connection, 9 % of a client's CPU in an install of 1,000
	// small packages, each its own connection to the seeder. Nor is a
	// connection whose plain handshake the peer closed dialled again
	// obfuscated (third_party patch 40): a distpac node at its connection
	// cap closes every connection it is offered, and the library dialled
	// it again for a key exchange it never read. In a swarm every late
	// client meets full peers: in a bench-swarm row at N=16, 79 plain
	// handshakes were closed so and each dialled again obfuscated; at N=32
	// each daemon began ~15 key exchanges. Without the retries (four
	// interleaved pairs, quiet machine) the row's CPU was 7.4–8.3 against
	// 7.3–9.0 s at N=16 and 14.5–17.9 against 16.2–18.3 s at N=32, the
	// time the same. A peer that requires encryption is not dialled; it
	// dials in.
	tc.HeaderObfuscationPolicy = torrent.HeaderObfuscationPolicy{Preferred: false, RequirePreferred: false, NoOutgoingFallback: true}
	tc.DisableWebseeds = true
	tc.NoDefaultPortForwarding = true
	tc.DisableTrackers = true // announce.go announces instead
	// Without Seed a complete client refuses incoming connections; every
	// distpac node shares what it has.
	tc.Seed = true
	// One memory budget for the data read for peers' requests and not yet
	// sent, across every connection and torrent (third_party/anacrolix-
	// torrent carries the patch): the library kept 16 MiB per connection,
	// so 50 peers that requested every block and never read the replies
	// grew a seeder to 800 MB per package. Now a connection reads ahead at
	// most peerReadAhead, all of them together at most the budget, and a
	// peer that stops reading is dropped after peerWriteTimeout, which
	// frees what was read for it.
	tc.MaxAllocPeerRequestDataPerClient = int(cmp.Or(cfg.RequestBudget, DefaultRequestBudget))
	tc.MaxAllocPeerRequestDataPerConn = peerReadAhead
	tc.PeerWriteTimeout = peerWriteTimeout
	// Loopback and LAN swarms have many peers on one IP.
	tc.DropDuplicatePeerIds = true
	// The library dials at most 10 peers a second (burst 10): an install of
	// 250 packages, a connection to the seeder for each, waited 25 s for
	// its dials alone, and the last torrents gave up for want of a source.
	tc.DialRateLimiter = rate.NewLimiter(dialsPerSecond, dialsPerSecond)
	tc.EstablishedConnsPerTorrent = ClientPeersPerTorrent
	if cfg.PeersPerTorrent > 0 {
		tc.EstablishedConnsPerTorrent = cfg.PeersPerTorrent
	}
	// One host may hold a quarter of a torrent's connections (at least
	// one; loopback is not limited): one that kept 50 connections open at
	// dist-server's seeder, 8 at a daemon, took every slot, and new clients
	// got nothing over BitTorrent (an attacker's run; third_party patch 41).
	// A capped publisher's six slots then go to six hosts; a client's eight
	// to at least four.
	tc.MaxEstablishedConnsPerIP = max(1, tc.EstablishedConnsPerTorrent/4)
	// Asked for first: the pieces after the ones complete from the start,
	// so an install can unpack the archive while the rest arrives (third_
	// party patch 42; a capped publisher gives its pieces out in order).
	tc.PrefixPieces = prefixPieces
	if cfg.PublisherQueue > 0 {
		tc.ExtendedHandshakeClientVersion = publisherName(cfg.PublisherQueue, cfg.UploadRate/int64(tc.EstablishedConnsPerTorrent))
		tc.SuggestPieces = publisherSuggestions
		tc.SuggestFromEnd = cfg.Mirror
	}
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
		if v, ok := e.transfers.Load(ev.Torrent.InfoHash()); ok {
			v.(*transferState).seederSentBad()
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
	e = &Engine{status: newStatusBook(), cl: cl, store: store, files: files, states: states, down: down, fetches: map[metainfo.Hash]*webFetch{}, webErrs: map[metainfo.Hash]seedErrors{}, http: webSeedClient(), webSeedAfter: cmp.Or(cfg.WebSeedAfter, DefaultWebSeedAfter), giveUpAfter: cmp.Or(cfg.GiveUpAfter, DefaultGiveUpAfter), stallAfter: stallRestart, dir: cfg.Dir, logger: logger, torrents: map[metainfo.Hash]*torrent.Torrent{}, callers: map[metainfo.Hash]int{}, stop: make(chan struct{}), downloading: make(chan struct{}, maxDownloadsAtOnce)}
	e.SetMirrorWebSeeds(cfg.MirrorWebSeeds)
	e.mirror = cfg.Mirror
	files.gone = func(ih metainfo.Hash) { go e.payloadGone(ih) } // a read's goroutine must not wait for Drop
	e.addr = listenAddr(cl, host)
	e.queues = queues
	registerEngine(e)
	if !cfg.DisableTrackers {
		e.ann = newAnnouncer(e.addr.Addr(), e.addr.Port(), cl.PeerID(), logger)
	}
	return e, nil
}

// PublisherSlots is how many peers a capped publisher serves per
// torrent at once. Each gets a share of the uplink large enough that its
// pieces are complete and shareable soon, and the clients fed directly
// pass them on. Four were chosen on loopback (bench-swarm N=16, queue 4:
// seeder 1.14–1.17×F → 1.10–1.11×F, time 1.20–1.22 → 1.14–1.17× the
// bound against more slots, which then asked for the same pieces) before
// suggestions (third_party patch 10) kept the publisher from sending a
// piece twice before every piece was out. Between hosts with round trips
// six do better: a slot refills its request queue only when it has
// emptied, and more clients start the swarm's exchange. bench-net (1 MiB/s
// links, F=16 MiB, one host, interleaved rows), time ÷ the bound and
// publisher egress ÷ F, 4 → 6 slots: N=32 at 100 ms 1.32–1.38 (5 rows) →
// 1.30–1.32 (5), egress 1.14–1.20 → 1.19–1.22; at 20 ms 1.25–1.26 →
// 1.20–1.22, egress 1.06–1.08 → 1.08–1.12; at 0 ms 1.21–1.27 → 1.20–1.21;
// N=64 at 100 ms 1.62 → 1.43, N=8 at 100 ms 1.23 → 1.18. Loopback
// bench-swarm (2 MiB/s, two pairs): N=16 1.11–1.12 → 1.10, N=32 1.21–1.28
// → 1.19–1.21, seeder egress unchanged (1.05–1.09 F). Eight were no faster
// within the rows' spread (N=32: 1.27–1.31 at 100 ms, 1.21–1.22 at 20 ms,
// 1.19 at 0 ms) and sent more: egress 1.19–1.23 F at 100 ms, 1.12–1.14 F
// at 20 ms, the extra going to the end of the download, when the clients
// could take the pieces from each other. Two: 1.43–1.52. The slot rate a
// publisher names (its cap over the slots) is what its clients compare
// their other peers with before they ask it last (patch 11): with six,
// other peers of a sixth of the cap suffice.
const PublisherSlots = 6

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

// dialsPerSecond bounds new outgoing peer connections: enough for an
// install of a thousand packages from one seeder in five seconds, still
// far from a connection flood.
const dialsPerSecond = 200

// NewLimiter builds a token bucket for bytes per second (an engine's,
// or one it shares: Config.UploadLimiter). The burst must be at
// least one chunk (requestChunk): the library refuses longer requests, and
// tells peers so (third_party patch 35), so with less they would ask this
// engine in parts of 16 KiB. It must be explicit: a zero burst lets the
// first 16 MiB through unthrottled. A tenth of a second of tokens keeps the
// rate within a few percent over any 10 s window.
func NewLimiter(bps int64) *rate.Limiter {
	burst := max(bps/10, requestChunk)
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
}

// add registers the torrent (idempotent) and wants all of it. before, when
// not nil, runs once the library holds the torrent and, for a torrent not
// held yet, before any piece is wanted: a download's accounting and its
// write-error hook start there, or a peer that connects at once (dialled
// by the announcer, or dialling in) delivers chunks nobody counts.
func (e *Engine) add(torrentBytes []byte, before func(*torrent.Torrent)) (*torrent.Torrent, error) {
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
	// One still downloading is left alone: its file grows as pieces come,
	// and a second install of the package (a Download of a torrent in
	// progress) dropped the first's torrent under it.
	ih := mi.HashInfoBytes()
	e.mu.Lock()
	held := e.torrents[ih]
	e.mu.Unlock()
	if held != nil && held.Complete().Bool() {
		if st, err := os.Stat(filepath.Join(e.dir, info.Name)); err != nil || st.Size() != info.Length {
			e.Drop(ih)
		}
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, fmt.Errorf("swarm: torrent %q: %w", info.Name, err)
	}
	spec.ChunkSize = requestChunk
	t, _, err := e.cl.AddTorrentSpec(spec)
	if err != nil {
		return nil, fmt.Errorf("swarm: add %s: %w", info.Name, err)
	}
	e.mu.Lock()
	_, had := e.torrents[t.InfoHash()]
	e.torrents[t.InfoHash()] = t
	e.mu.Unlock()
	if !had {
		adjustMemoryLimit(1)
	}
	if before != nil {
		before(t)
	}
	t.DownloadAll()
	e.status.noteAdded(t.InfoHash())
	if e.ann != nil {
		e.ann.track(t, mi)
	}
	return t, nil
}

// Seed starts sharing a complete archive that already lies in Dir. With
// verify the payload is hashed first (the library trusts a full-size file
// otherwise); Seed fails if any piece is bad.
//
// The hashing is distpac's own, before the torrent joins the engine: the
// library's verification schedules its hashers by scanning every torrent
// of the client for each piece, and a seeder with 10,000 packages took
// 10.8 s to start, most of it there (and in the collector).
//
// The file as it was before the check (or, without verify, as the caller
// vouched for it) is what RecheckChanged compares it with.
func (e *Engine) Seed(ctx context.Context, torrentBytes []byte, verify bool) (metainfo.Hash, error) {
	var before os.FileInfo
	if verify {
		info, err := payloadInfo(torrentBytes)
		if err != nil {
			return metainfo.Hash{}, err
		}
		if before, err = verifyFile(ctx, filepath.Join(e.dir, info.Name), info); err != nil {
			return metainfo.Hash{}, err
		}
	}
	t, err := e.add(torrentBytes, nil)
	if err != nil {
		return metainfo.Hash{}, err
	}
	// The Complete flag is set asynchronously after hashing; the count of
	// missing bytes is current.
	if missing := t.BytesMissing(); missing != 0 {
		e.Drop(t.InfoHash())
		return metainfo.Hash{}, fmt.Errorf("swarm: seed %s: %d bytes missing or corrupt in %s", t.Name(), missing, e.dir)
	}
	if before == nil {
		e.noteWhole(t)
	} else {
		e.checked.note(t.InfoHash(), before)
	}
	return t.InfoHash(), nil
}

// Drop stops sharing a torrent. Its file stays on disk.
func (e *Engine) Drop(ih metainfo.Hash) {
	// A web-seed fetch must end first: the library's piece verification
	// keeps its client lock for good when the torrent closes under it.
	e.stopWebFetch(ih)
	if e.ann != nil {
		e.ann.untrack(ih)
	}
	defer e.states.forget(ih)
	defer e.status.forget(ih)
	defer e.checked.forget(ih)
	e.mu.Lock()
	t, ok := e.torrents[ih]
	delete(e.torrents, ih)
	delete(e.webErrs, ih)
	e.mu.Unlock()
	if ok {
		adjustMemoryLimit(-1)
		t.Drop()
	}
}

// payloadGone drops a torrent whose payload file was deleted under it
// (dist-client clean, a user's rm) unless a Download of it is in flight,
// which writes it again. Seeded on, it answered peers' requests with
// failed reads, each of which marked the piece missing, so the engine
// downloaded again what the user had removed while its peers waited on it:
// a client that picked it stalled for 10 s before it restarted its
// download.
func (e *Engine) payloadGone(ih metainfo.Hash) {
	for _, name := range e.dropVanished([]metainfo.Hash{ih}) {
		e.logger.Info("the archive was removed from the cache: no longer seeding it", "archive", name)
	}
}

// dropVanished drops those of ihs (all torrents when nil) whose payload
// file is gone and that no Download is running, and returns their names.
// Under vanishMu, so that a Download that starts meanwhile (its add drops
// and adds the torrent again, then marks it running) is seen running, not
// dropped after its start; nothing once the engine is closed.
func (e *Engine) dropVanished(ihs []metainfo.Hash) []string {
	e.vanishMu.Lock()
	defer e.vanishMu.Unlock()
	select {
	case <-e.stop:
		return nil
	default:
	}
	var names []string
	for _, t := range e.torrentList() {
		info, ih := t.Info(), t.InfoHash()
		if info == nil || ihs != nil && !slices.Contains(ihs, ih) || e.downloadRunning(ih) {
			continue
		}
		if payloadAbsent(filepath.Join(e.dir, info.Name)) {
			e.Drop(ih)
			names = append(names, info.Name)
		}
	}
	return names
}

// DropVanished drops the torrents whose payload file is gone (payloadGone)
// and returns their names. Reads find a deleted file when peers ask for
// it; this finds it for a torrent nobody asks for, which the engine would
// otherwise announce and list as seeding.
func (e *Engine) DropVanished() []string {
	names := e.dropVanished(nil)
	for _, name := range names {
		e.logger.Info("the archive was removed from the cache: no longer seeding it", "archive", name)
	}
	return names
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
	// PublisherQueue is the deepest request queue this engine has kept at
	// a publisher (queue.go); 0 if it met none.
	PublisherQueue int
}

// Stats returns engine-wide counters.
func (e *Engine) Stats() Stats {
	cs := e.cl.Stats()
	ts := e.torrentList()
	s := Stats{Torrents: len(ts), Uploaded: cs.BytesWrittenData.Int64(), Downloaded: cs.BytesReadData.Int64() + e.webBytes.Load(), PublisherQueue: int(e.queues.deepest.Load())}
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

// SetMirrorWebSeeds replaces Config.MirrorWebSeeds for the downloads that
// start from now on: the order to try the servers in changes while a
// daemon runs (one that failed a sync goes last, catalogclient.OrderServers),
// and a daemon that kept the order it started with sent every install to
// a server the last sync had found down first.
func (e *Engine) SetMirrorWebSeeds(seeds []string) {
	seeds = slices.Clone(seeds)
	e.mirrorSeeds.Store(&seeds)
}

// MirrorWebSeeds is the mirrors the next download tries, in order.
func (e *Engine) MirrorWebSeeds() []string { return slices.Clone(*e.mirrorSeeds.Load()) }
