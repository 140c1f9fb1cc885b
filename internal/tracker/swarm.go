package tracker

import (
	"net/netip"
	"time"

	"github.com/anacrolix/torrent/tracker/udp"
)

// swarm is the peers of one torrent. peers is dense (swap-delete) so that a
// random window of it is a cheap, fair sample.
type swarm struct {
	peers     []peer
	index     map[netip.AddrPort]int
	perIP     map[netip.Addr]int // peers by host (hostOf), pinned ones included
	pinned    int                // how many peers are pinned
	seeders   int
	completed int32
	// scanAt is a lower bound on the earliest expiry of any peer, so that
	// expiry on access scans the swarm only when something may be stale.
	scanAt time.Time
}

type peer struct {
	addr     netip.AddrPort
	lastSeen time.Time
	seeder   bool
	pinned   bool // added by AddPeer: never expires, never evicted
	counted  bool // its completed event was counted (Scrape's downloaded)
}

func newSwarm() *swarm {
	return &swarm{index: make(map[netip.AddrPort]int), perIP: make(map[netip.Addr]int)}
}

func (s *swarm) scrape() udp.ScrapeInfohashResult {
	return udp.ScrapeInfohashResult{
		Seeders:   int32(s.seeders),
		Leechers:  int32(len(s.peers) - s.seeders),
		Completed: s.completed,
	}
}

func (s *swarm) add(p peer) {
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

// evictStalest drops the unpinned peer seen least recently to make room,
// among the peers of host from (hostOf) when it is valid; it reports false
// when there is no such peer.
func (s *swarm) evictStalest(from netip.Addr) bool {
	victim := -1
	for i, p := range s.peers {
		if from.IsValid() && hostOf(p.addr.Addr()) != from {
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
