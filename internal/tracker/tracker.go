// Package tracker is dist-server's embedded HTTP BitTorrent tracker (BEP 3,
// compact peer lists per BEP 23, scrape per BEP 48) with an in-memory peer
// store.
//
// The HTTP side is anacrolix/torrent's tracker/http/server handler; this
// package supplies its peer store (the trackerServer.AnnounceTracker
// interface), limits, expiry and the routing around it. Memory is bounded by
// Options.MaxTorrents × Options.MaxPeersPerTorrent peers, and as many hosts'
// counts of completed downloads (countDownload; 82 bytes each with the
// map's overhead, measured with IPv4 hosts on Go 1.26), and as many again
// for the torrents with no live swarm (at most MaxTorrents of them).
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
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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
	// StartingInterval is the interval, and the min interval, of the
	// answer to an announce that comes before the tracker knows what it
	// serves (Options.Known): the shortest distpac's announcer takes
	// (trackerclient.MinInterval), so that it is back soon after the
	// start, and 3 announces a minute from each client meanwhile.
	StartingInterval = 10 * time.Second
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
	// Known, when set beside Allowed, reports whether Allowed knows yet
	// what is served (dist-server: its first reload has said). An
	// announce Allowed refuses before then is answered as one of a swarm
	// with no peers yet, its interval and min interval StartingInterval,
	// and not recorded: a failure reason ("torrent is not served") while
	// a start checked a large restored catalog made clients back off for
	// minutes, from a torrent they were to be served seconds later.
	Known func() bool
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
	// tallies holds each torrent's completed downloads and the hosts
	// that counted them (counts.go), one home whether its swarm is live
	// or not: a swarm with no peer goes (the peers expired, or Restore
	// read only counts: the server's seeder registers later), and its
	// tally stays for when a swarm of it is made again or for scrape.
	// Bound: one for each swarm in torrents, and idleTallies (those of
	// torrents with no swarm) at most MaxTorrents; guarded by mu.
	tallies     map[[20]byte]*tally
	idleTallies int
}

// New returns an empty tracker.
func New(opts Options) *Tracker {
	opts.applyDefaults()
	t := &Tracker{
		opts:      opts,
		torrents:  make(map[[20]byte]*swarm),
		tallies:   make(map[[20]byte]*tally),
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
		s = t.newSwarmLocked(infoHash)
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

// newSwarmLocked makes the swarm of infoHash; a tally kept for it with
// no swarm is no longer idle. t.mu is held.
func (t *Tracker) newSwarmLocked(infoHash [20]byte) *swarm {
	s := newSwarm()
	if t.tallies[infoHash] != nil {
		t.idleTallies--
	}
	t.torrents[infoHash] = s
	return s
}

func (t *Tracker) dropIfEmpty(infoHash [20]byte, s *swarm) bool {
	if len(s.peers) == 0 {
		delete(t.torrents, infoHash)
		if c := t.tallies[infoHash]; c != nil {
			t.keepIdleLocked(infoHash, c)
		}
		return true
	}
	return false
}

// Served reports whether the tracker serves the torrent (Options.Allowed).
func (t *Tracker) Served(infoHash [20]byte) bool {
	return t.opts.Allowed == nil || t.opts.Allowed(infoHash)
}
