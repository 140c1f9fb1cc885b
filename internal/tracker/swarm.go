package tracker

import (
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/tracker/udp"
)

// swarm is the peers of one torrent. peers is dense (swap-delete) so that a
// random window of it is a cheap, fair sample.
type swarm struct {
	peers   []peer
	index   map[netip.AddrPort]int
	perIP   map[netip.Addr]int   // peers by host (hostOf), pinned ones included
	perNet  map[netKey]*netCount // peers by network (netOf), pinned ones included
	pinned  int                  // how many peers are pinned
	seeders int
	// scanAt is a lower bound on the earliest expiry of any peer, so that
	// expiry on access scans the swarm only when something may be stale.
	scanAt time.Time
}

type peer struct {
	addr     netip.AddrPort
	net      *netCount // of netOf(addr), shared by the swarm's peers of that network; set by add
	lastSeen time.Time
	seeder   bool
	pinned   bool // added by AddPeer: never expires, never evicted
	counted  bool // its completed event was counted (the tracker's tallies)
}

// netCount is how many of a swarm's peers are in one network. Each peer
// points at its network's, so that evictCrowded reads the counts without a
// map lookup per peer (which made an eviction of a 1,000-peer swarm 13 times
// slower than a scan for the stalest peer).
type netCount struct {
	key netKey
	n   int
}

func newSwarm() *swarm {
	return &swarm{index: make(map[netip.AddrPort]int), perIP: make(map[netip.Addr]int), perNet: make(map[netKey]*netCount)}
}

// scrape is the swarm's seeders and leechers, with the torrent's count of
// completed downloads (the tracker's tally).
func (s *swarm) scrape(completed int32) udp.ScrapeInfohashResult {
	return udp.ScrapeInfohashResult{
		Seeders:   int32(s.seeders),
		Leechers:  int32(len(s.peers) - s.seeders),
		Completed: completed,
	}
}

func (s *swarm) add(p peer) {
	k := netOf(p.addr.Addr())
	p.net = s.perNet[k]
	if p.net == nil {
		p.net = &netCount{key: k}
		s.perNet[k] = p.net
	}
	p.net.n++
	s.index[p.addr] = len(s.peers)
	s.peers = append(s.peers, p)
	s.perIP[hostOf(p.addr.Addr())]++
	if p.seeder {
		s.seeders++
	}
	if p.pinned {
		s.pinned++
	}
}

func (s *swarm) remove(i int) {
	p := s.peers[i]
	if p.seeder {
		s.seeders--
	}
	if p.pinned {
		s.pinned--
	}
	if h := hostOf(p.addr.Addr()); s.perIP[h] <= 1 {
		delete(s.perIP, h)
	} else {
		s.perIP[h]--
	}
	if p.net.n--; p.net.n == 0 {
		delete(s.perNet, p.net.key)
	}
	last := len(s.peers) - 1
	if i != last {
		s.peers[i] = s.peers[last]
		s.index[s.peers[i].addr] = i
	}
	s.peers = s.peers[:last]
	delete(s.index, p.addr)
}

func (s *swarm) setSeeder(i int, seeder bool) {
	p := &s.peers[i]
	if p.seeder == seeder {
		return
	}
	p.seeder = seeder
	if seeder {
		s.seeders++
	} else {
		s.seeders--
	}
}

// expire drops peers not seen for ttl and returns how many.
func (s *swarm) expire(now time.Time, ttl time.Duration) int {
	if now.Before(s.scanAt) {
		return 0
	}
	dropped := 0
	var oldest time.Time
	for i := 0; i < len(s.peers); {
		p := s.peers[i]
		if p.pinned {
			i++
			continue
		}
		if now.Sub(p.lastSeen) >= ttl {
			s.remove(i) // swaps the last peer into i: look at i again
			dropped++
			continue
		}
		if oldest.IsZero() || p.lastSeen.Before(oldest) {
			oldest = p.lastSeen
		}
		i++
	}
	if oldest.IsZero() {
		// Only pinned peers (or none): peers added later are seen no earlier
		// than now.
		oldest = now
	}
	// A peer's lastSeen only moves forward, so this stays a lower bound.
	s.scanAt = oldest.Add(ttl)
	return dropped
}

// evictStalest drops the unpinned peer seen least recently among the peers
// of host from (hostOf) to make room for another of it; it reports false
// when there is no such peer.
func (s *swarm) evictStalest(from netip.Addr) bool {
	victim := -1
	for i, p := range s.peers {
		if hostOf(p.addr.Addr()) != from {
			continue
		}
		if !p.pinned && (victim < 0 || p.lastSeen.Before(s.peers[victim].lastSeen)) {
			victim = i
		}
	}
	if victim < 0 {
		return false
	}
	s.remove(victim)
	return true
}

// evictCrowded makes room in a full swarm: it drops the unpinned peer seen
// least recently among those of the network (netOf) that holds the most
// peers, when that network holds more than over of them; otherwise the
// swarm's stalest unpinned peer. It reports false when every peer is
// pinned. The stalest peer alone was the victim before: fake announces
// from one network (a /24 or an IPv6 /48, each address at most
// MaxPeersPerIP times) filled a swarm's 1,000 entries and, re-announcing
// more often than real clients, pushed every real client out of it. Now
// such a network pushes out its own peers once it holds more than its
// share. A group of real clients in one network below that share (a
// campus, a provider's /48) gives way by staleness as everyone else does:
// were the largest network always the victim, fakes spread over many small
// networks would push it out whatever its clients' announces.
func (s *swarm) evictCrowded(over int) bool {
	most := 0
	for _, p := range s.peers {
		if !p.pinned {
			most = max(most, p.net.n)
		}
	}
	victim, stalest := -1, -1
	for i, p := range s.peers {
		if p.pinned {
			continue
		}
		if stalest < 0 || p.lastSeen.Before(s.peers[stalest].lastSeen) {
			stalest = i
		}
		if most > over && p.net.n == most && (victim < 0 || p.lastSeen.Before(s.peers[victim].lastSeen)) {
			victim = i
		}
	}
	if victim < 0 {
		victim = stalest
	}
	if victim < 0 {
		return false
	}
	s.remove(victim)
	return true
}

// netKey names a network in a swarm's perNet: an IPv4 /24 as its 24 bits
// with the top bit set, an IPv6 /48 as its 48 bits. With a netip.Prefix key
// the tracker held 409 B of heap a peer when each peer was in a network of
// its own (TestTrackerMemory's 100,000 peers), 316 B with this one; 263 B
// with 256 peers to a /24 (246 B without the networks).
type netKey uint64

// netOf is the network an address is counted under when a full swarm
// makes room (evictCrowded): an IPv4 address's /24 and an IPv6 address's
// /48, what one site or one customer of a provider commonly holds.
func netOf(a netip.Addr) netKey {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return 1<<63 | netKey(b[0])<<16 | netKey(b[1])<<8 | netKey(b[2])
	}
	b := a.As16()
	return netKey(b[0])<<40 | netKey(b[1])<<32 | netKey(b[2])<<24 | netKey(b[3])<<16 | netKey(b[4])<<8 | netKey(b[5])
}

// hostOf is what MaxPeersPerIP counts an address under: an IPv4 address
// itself, and an IPv6 address's /64, the least a host or a home network
// gets: one attacker holds 2^64 addresses of its /64, and filled a swarm's
// slots with them one by one.
func hostOf(a netip.Addr) netip.Addr {
	if a.Is6() && !a.Is4In6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// unmap turns IPv4-mapped IPv6 addresses (what a dual-stack listener may
// report for IPv4 clients) into plain IPv4, so one peer has one identity and
// lands in the BEP 23 compact IPv4 list.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
