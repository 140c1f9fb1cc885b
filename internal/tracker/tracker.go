// Package tracker is dist-server's embedded HTTP BitTorrent tracker (BEP 3,
// compact peer lists per BEP 23, scrape per BEP 48) with an in-memory peer
// store.
//
// The HTTP side is anacrolix/torrent's tracker/http/server handler; this
// package supplies its peer store (the trackerServer.AnnounceTracker
// interface), limits, expiry and the routing around it. Memory is bounded by
// Options.MaxTorrents × Options.MaxPeersPerTorrent peers, and as many hosts'
// counts of completed downloads (countDownload; about 40 bytes each with
// the map's overhead, kept a day after the peers are gone).
//
// A peer is identified by the address it announces from: the IP of the HTTP
// connection (Request.RemoteAddr) and the port from the query. The BEP 3 "ip"
// parameter is ignored, so a peer cannot register someone else's address;
// behind a reverse proxy every peer would appear with the proxy's IP, so the
// tracker must be reached directly. Several peers on one host (all of
// 127.0.0.1 in tests) are told apart by port, up to MaxPeersPerIP of them in
// one swarm: past that a host's newest announce replaces its stalest, so
// one host cannot fill a swarm with ports where nothing listens. A full
// swarm (MaxPeersPerTorrent) makes room in its most crowded network (an
// IPv4 /24, an IPv6 /48) when that holds more than a thirty-second of it,
// so that fake announces from a few networks push out each other rather
// than the real peers.
//
// The publisher's seeder is registered with AddPeer (pinned): announces
// cannot remove it or change it, and it leads every reply, so fake
// announces cannot hide it. With Options.Allowed set the tracker serves
// only the torrents it allows (dist-server: the catalog's), as
// opentracker's whitelist mode does.
//
// The anacrolix handler logs its own errors through anacrolix/log's global
// Default logger, which prints to stderr; refusals are answered without going
// through that path, but a program should still call QuietLibraryLogs (or set
// log.Default's handlers itself) once at start.
package tracker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/generics"

	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/shared"
	"github.com/anacrolix/torrent/tracker/udp"
	"github.com/distpac/distpac/internal/trackerclient"
)

// Defaults for the zero Options.
const (
	DefaultMaxTorrents        = 10000
	DefaultMaxPeersPerTorrent = 1000
	// DefaultMaxPeersPerIP bounds the peers one IP address holds in one
	// swarm: enough for a NAT'd office or a test host running several
	// clients, few enough that one host cannot crowd a swarm out.
	DefaultMaxPeersPerIP = 16
	DefaultInterval      = 30 * time.Second
	// DefaultNumWant is how many peers an announce gets when it does not say.
	DefaultNumWant = 50
	// maxNumWant is the cap the anacrolix HTTP handler puts on every reply.
	maxNumWant = 200
)

// crowdedShare: a network holding more than 1/crowdedShare of a full
// swarm's places gives up its stalest peer to a newcomer before the
// swarm's stalest gives way (swarm.evictCrowded): 31 of 1,000. An eighth
// (125) let fakes spread over nine /48s, cheap to hold, evade the rule
// and push out every real client (a second review); a thirty-second needs
// 33 networks, and a real group of clients in one network keeps 31 places
// at least against fakes that announced less recently.
const crowdedShare = 32

// Refusals, reported to the announcing client as a BEP 3 "failure reason".
var (
	ErrTooManyTorrents = errors.New("tracker is full: too many torrents")
	ErrSwarmFull       = errors.New("swarm is full")
	ErrNoPort          = errors.New("announce has no port")
	ErrNotServed       = errors.New(trackerclient.ReasonNotServed)
	ErrTooManyFromIP   = errors.New("too many peers from this address")
)

// Options configures a Tracker. The zero value gives the defaults.
type Options struct {
	// MaxTorrents bounds the torrents tracked (default 10000); announces for
	// new torrents beyond this are refused with a failure reason.
	MaxTorrents int
	// MaxPeersPerTorrent bounds each swarm (default 1000); when it is full a
	// newcomer evicts the peer that announced least recently, among those of
	// the network (an IPv4 /24, an IPv6 /48) that holds the most when that
	// is more than 1/crowdedShare of the bound.
	MaxPeersPerTorrent int
	// MaxPeersPerIP bounds the peers one IP address (for IPv6, one /64)
	// holds in one swarm (default DefaultMaxPeersPerIP; negative: no
	// bound). A newcomer from an address at the bound evicts that
	// address's stalest peer.
	MaxPeersPerIP int
	// Allowed, when set, says which torrents the tracker serves; announces
	// for others are refused and scrapes leave them out. nil serves any.
	Allowed func(infoHash [20]byte) bool
	// PeerTTL drops peers not seen for this long (default 3 × Interval).
	PeerTTL time.Duration
	// Interval is the announce interval returned to clients (default 30s).
	// anacrolix clients re-announce every 60s whatever it says.
	Interval time.Duration
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Logger receives debug logs (default: discard).
	Logger *slog.Logger
}

func (o *Options) applyDefaults() {
	if o.MaxTorrents <= 0 {
		o.MaxTorrents = DefaultMaxTorrents
	}
	if o.MaxPeersPerTorrent <= 0 {
		o.MaxPeersPerTorrent = DefaultMaxPeersPerTorrent
	}
	if o.MaxPeersPerIP == 0 {
		o.MaxPeersPerIP = DefaultMaxPeersPerIP
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.PeerTTL <= 0 {
		o.PeerTTL = 3 * o.Interval
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Stats is a snapshot of the tracker's contents.
type Stats struct {
	Torrents  int
	Peers     int // entries: a peer in two swarms counts twice
	Seeders   int
	Leechers  int
	Announces uint64 // announces received since New, refused ones included
}

// Tracker is an in-memory peer store serving BitTorrent announces. It is safe
// for concurrent use.
type Tracker struct {
	opts      Options
	handler   http.Handler
	announces atomic.Uint64
	refused   sync.Map // refusal reason (error text) -> *atomic.Uint64

	mu        sync.Mutex
	torrents  map[[20]byte]*swarm // guarded by mu; never holds an empty swarm after a call returns
	lastSweep time.Time           // guarded by mu
}

var _ trackerServer.AnnounceTracker = (*Tracker)(nil)

// New returns an empty tracker.
func New(opts Options) *Tracker {
	opts.applyDefaults()
	t := &Tracker{
		opts:      opts,
		torrents:  make(map[[20]byte]*swarm),
		lastSweep: opts.Now(),
	}
	t.handler = t.newHandler()
	return t
}

// AddPeer registers a peer directly, as the server's own seeder does instead
// of announcing. complete marks it a seeder. Such peers never expire and are
// never evicted until RemovePeer, and they are accepted beyond MaxTorrents
// and MaxPeersPerTorrent: the server's packages must always be findable.
func (t *Tracker) AddPeer(infoHash [20]byte, addr netip.AddrPort, complete bool) {
	addr = unmap(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.torrents[infoHash]
	if s == nil {
		s = newSwarm()
		t.torrents[infoHash] = s
	}
	now := t.opts.Now()
	if i, ok := s.index[addr]; ok {
		if !s.peers[i].pinned {
			s.peers[i].pinned = true
			s.pinned++
		}
		s.peers[i].lastSeen = now
		s.setSeeder(i, complete)
		return
	}
	s.add(peer{addr: addr, lastSeen: now, seeder: complete, pinned: true})
}

// RemovePeer forgets a peer, whether added by AddPeer or by announcing.
func (t *Tracker) RemovePeer(infoHash [20]byte, addr netip.AddrPort) {
	addr = unmap(addr)
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.torrents[infoHash]; s != nil {
		if i, ok := s.index[addr]; ok {
			s.remove(i)
		}
		t.dropIfEmpty(infoHash, s)
	}
}

// Peers returns the live peers of a torrent in address order.
func (t *Tracker) Peers(infoHash [20]byte) []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.liveSwarm(infoHash, t.opts.Now())
	if s == nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p.addr)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// Stats sweeps stale peers and counts what is left.
func (t *Tracker) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(t.opts.Now())
	st := Stats{Torrents: len(t.torrents), Announces: t.announces.Load()}
	for _, s := range t.torrents {
		st.Peers += len(s.peers)
		st.Seeders += s.seeders
	}
	st.Leechers = st.Peers - st.Seeders
	return st
}

// Hosts is how many addresses announced, each once however many swarms it
// is in; the seeders AddPeer pins (the server's own) are not counted:
// `dist-server status` said "2 known to the tracker" for a server alone
// with two packages. It builds a set of every peer (about 5 ms for
// 100,000), so it is for status, not for each metrics scrape.
func (t *Tracker) Hosts() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(t.opts.Now())
	hosts := map[netip.AddrPort]struct{}{}
	for _, s := range t.torrents {
		for _, p := range s.peers {
			if !p.pinned {
				hosts[p.addr] = struct{}{}
			}
		}
	}
	return len(hosts)
}

// Refused counts the announces refused since New, by reason (the failure
// reason sent back).
func (t *Tracker) Refused() map[string]uint64 {
	out := map[string]uint64{}
	t.refused.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// Sweep drops every peer not seen for PeerTTL and every torrent left empty.
func (t *Tracker) Sweep() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(t.opts.Now())
}

// Run sweeps every Interval until ctx is done. Expiry also happens lazily on
// access, so Run only bounds the memory held by swarms nobody asks about.
func (t *Tracker) Run(ctx context.Context) {
	tick := time.NewTicker(t.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.Sweep()
		}
	}
}

func (t *Tracker) sweepLocked(now time.Time) {
	t.lastSweep = now
	dropped := 0
	for ih, s := range t.torrents {
		dropped += s.expire(now, t.opts.PeerTTL)
		t.dropIfEmpty(ih, s)
	}
	if dropped > 0 {
		t.opts.Logger.Debug("tracker: swept stale peers", "dropped", dropped, "torrents", len(t.torrents))
	}
}

// liveSwarm returns the torrent's swarm after expiring its stale peers, or
// nil when nothing is left of it.
func (t *Tracker) liveSwarm(infoHash [20]byte, now time.Time) *swarm {
	s := t.torrents[infoHash]
	if s == nil {
		return nil
	}
	s.expire(now, t.opts.PeerTTL)
	if t.dropIfEmpty(infoHash, s) {
		return nil
	}
	return s
}

func (t *Tracker) dropIfEmpty(infoHash [20]byte, s *swarm) bool {
	if len(s.peers) == 0 {
		delete(t.torrents, infoHash)
		return true
	}
	return false
}

// TrackAnnounce records an announce (trackerServer.AnnounceTracker). When
// called through Handler, a refusal is handed to the HTTP layer to send as a
// failure reason and nil is returned, because the anacrolix handler turns
// errors into a bare HTTP 500 and logs them to stderr.
func (t *Tracker) TrackAnnounce(ctx context.Context, req udp.AnnounceRequest, addr trackerServer.AnnounceAddr) error {
	t.announces.Add(1)
	err := t.trackAnnounce(req, unmap(addr))
	if err == nil {
		return nil
	}
	t.opts.Logger.Debug("tracker: announce refused", "info_hash", hexHash(req.InfoHash), "peer", addr, "err", err)
	n, _ := t.refused.LoadOrStore(err.Error(), new(atomic.Uint64))
	n.(*atomic.Uint64).Add(1)
	if st := stateFrom(ctx); st != nil {
		st.refusal = err
		return nil
	}
	return err
}

func (t *Tracker) trackAnnounce(req udp.AnnounceRequest, addr netip.AddrPort) error {
	if t.opts.Allowed != nil && !t.opts.Allowed(req.InfoHash) {
		return ErrNotServed
	}
	if req.Event == shared.Stopped {
		t.mu.Lock()
		defer t.mu.Unlock()
		if s := t.torrents[req.InfoHash]; s != nil {
			// A pinned peer is the publisher's own seeder: one forged
			// "stopped" must not hide it until the server restarts.
			if i, ok := s.index[addr]; ok && !s.peers[i].pinned {
				s.remove(i)
			}
			t.dropIfEmpty(req.InfoHash, s)
		}
		return nil
	}
	if addr.Port() == 0 {
		return ErrNoPort
	}
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.liveSwarm(req.InfoHash, now)
	if s == nil {
		if len(t.torrents) >= t.opts.MaxTorrents && now.Sub(t.lastSweep) >= t.opts.Interval {
			// Stale torrents may be holding the slots; a sweep at most once per
			// interval keeps refusals from costing a full scan each.
			t.sweepLocked(now)
		}
		if len(t.torrents) >= t.opts.MaxTorrents {
			return ErrTooManyTorrents
		}
		s = newSwarm()
		t.torrents[req.InfoHash] = s
	}
	completed := req.Event == shared.Completed
	seeder := req.Left == 0 || completed
	// A download counts once, for a peer this swarm knew as a leecher: any
	// client could send "completed" again and again, and scrape's
	// downloaded (and the server's downloads metric) went up by one each
	// time. One host's downloads count up to MaxPeersPerIP a day
	// (countDownload): one that completed, stopped and came back counted
	// again every time. Tracker statistics stay advisory.
	counts := false
	if i, ok := s.index[addr]; ok {
		p := &s.peers[i]
		counts = completed && !p.seeder && !p.counted
		p.counted = p.counted || counts
		p.lastSeen = now
		if !p.pinned { // AddPeer's word on a pinned peer stands
			s.setSeeder(i, seeder)
		}
	} else {
		if h := hostOf(addr.Addr()); t.opts.MaxPeersPerIP > 0 && s.perIP[h] >= t.opts.MaxPeersPerIP && !s.evictStalest(h) {
			t.dropIfEmpty(req.InfoHash, s)
			return ErrTooManyFromIP
		}
		if len(s.peers) >= t.opts.MaxPeersPerTorrent && !s.evictCrowded(t.opts.MaxPeersPerTorrent/crowdedShare) {
			t.dropIfEmpty(req.InfoHash, s)
			return ErrSwarmFull
		}
		s.add(peer{addr: addr, lastSeen: now, seeder: seeder})
	}
	if counts && s.countDownload(hostOf(addr.Addr()), now, t.opts.MaxPeersPerIP, t.opts.MaxPeersPerTorrent) {
		s.completed++
	}
	return nil
}

// GetPeers picks up to numwant peers other than remote
// (trackerServer.AnnounceTracker): the pinned peers first (the publisher's
// seeder is in every reply, whatever else announced), then a window of the
// others that starts at a random place, so that load spreads over the swarm.
func (t *Tracker) GetPeers(ctx context.Context, infoHash trackerServer.InfoHash, opts trackerServer.GetPeersOpts, remote trackerServer.AnnounceAddr) trackerServer.ServerAnnounceResult {
	res := trackerServer.ServerAnnounceResult{
		Interval: generics.Some(int32(max(1, t.opts.Interval/time.Second))),
		Seeders:  generics.Some[int32](0),
		Leechers: generics.Some[int32](0),
	}
	want := uint(DefaultNumWant)
	if st := stateFrom(ctx); st != nil {
		if st.refusal != nil {
			return res
		}
		want = st.numWant
	}
	if opts.MaxCount.Ok {
		want = min(want, opts.MaxCount.Value)
	}
	remote = unmap(remote)
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.liveSwarm(infoHash, t.opts.Now())
	if s == nil {
		return res
	}
	res.Seeders.Value = int32(s.seeders)
	res.Leechers.Value = int32(len(s.peers) - s.seeders)
	n := len(s.peers)
	res.Peers = make([]trackerServer.PeerInfo, 0, min(uint(n), want))
	if s.pinned > 0 {
		for _, p := range s.peers {
			if p.pinned && p.addr != remote && uint(len(res.Peers)) < want {
				res.Peers = append(res.Peers, trackerServer.PeerInfo{AnnounceAddr: p.addr})
			}
		}
	}
	start := rand.IntN(n)
	for k := 0; k < n && uint(len(res.Peers)) < want; k++ {
		p := s.peers[(start+k)%n]
		if p.addr == remote || p.pinned {
			continue
		}
		res.Peers = append(res.Peers, trackerServer.PeerInfo{AnnounceAddr: p.addr})
	}
	return res
}

// Scrape counts seeders, leechers and completed downloads per torrent
// (trackerServer.AnnounceTracker); unknown torrents count zero. Callers
// leave out torrents that Allowed refuses (see Served).
func (t *Tracker) Scrape(ctx context.Context, infoHashes []trackerServer.InfoHash) ([]udp.ScrapeInfohashResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	out := make([]udp.ScrapeInfohashResult, len(infoHashes))
	for i, ih := range infoHashes {
		if s := t.liveSwarm(ih, now); s != nil {
			out[i] = s.scrape()
		}
	}
	return out, nil
}

// Served reports whether the tracker serves the torrent (Options.Allowed).
func (t *Tracker) Served(infoHash [20]byte) bool {
	return t.opts.Allowed == nil || t.opts.Allowed(infoHash)
}
