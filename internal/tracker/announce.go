package tracker

// The peer store as anacrolix's HTTP handler sees it
// (trackerServer.AnnounceTracker): announces recorded under the limits,
// peer lists picked for a reply, scrapes counted.

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/anacrolix/generics"

	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/shared"
	"github.com/anacrolix/torrent/tracker/udp"
)

var _ trackerServer.AnnounceTracker = (*Tracker)(nil)

// TrackAnnounce records an announce (trackerServer.AnnounceTracker). When
// called through Handler, a refusal is handed to the HTTP layer to send as a
// failure reason and nil is returned, because the anacrolix handler turns
// errors into a bare HTTP 500 and logs them to stderr.
//
// An announce that comes before the tracker knows what it serves
// (Options.Known) is answered as one of a swarm with no peers yet
// (GetPeers, finish), and is neither recorded nor counted as refused.
func (t *Tracker) TrackAnnounce(ctx context.Context, req udp.AnnounceRequest, addr trackerServer.AnnounceAddr) error {
	t.announces.Add(1)
	err := t.trackAnnounce(req, unmap(addr))
	if err == nil {
		return nil
	}
	if st := stateFrom(ctx); st != nil && errors.Is(err, errStarting) {
		t.opts.Logger.Debug("tracker: announce before the served torrents are known; answered with no peers", "info_hash", hexHash(req.InfoHash), "peer", addr)
		st.starting = true
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
	if err := t.serves(req.InfoHash); err != nil {
		return err
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
		s = t.newSwarmLocked(req.InfoHash)
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
	if counts {
		t.tallyLocked(req.InfoHash).countDownload(hostOf(addr.Addr()), now, t.opts.MaxPeersPerIP, t.opts.MaxPeersPerTorrent)
	}
	return nil
}

// errStarting: the tracker does not know yet whether it serves the
// torrent (Options.Known); over HTTP it is no refusal (TrackAnnounce).
var errStarting = errors.New("the server is starting: which torrents it serves is not known yet")

// serves is nil when the tracker serves the torrent ih, ErrNotServed when
// it does not, errStarting while it does not know yet (Options.Known).
func (t *Tracker) serves(ih [20]byte) error {
	switch {
	case t.opts.Allowed == nil || t.opts.Allowed(ih):
		return nil
	case t.opts.Known == nil:
		return ErrNotServed
	case !t.opts.Known():
		return errStarting
	case t.opts.Allowed(ih):
		// Known since Allowed looked: what it says now stands.
		return nil
	}
	return ErrNotServed
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
		if st.starting {
			res.Interval.Value = int32(StartingInterval / time.Second)
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
// (trackerServer.AnnounceTracker); a torrent with no live swarm counts no
// peers, and the completed downloads kept for it (tallies). Callers
// leave out torrents that Allowed refuses (see Served).
func (t *Tracker) Scrape(ctx context.Context, infoHashes []trackerServer.InfoHash) ([]udp.ScrapeInfohashResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	out := make([]udp.ScrapeInfohashResult, len(infoHashes))
	for i, ih := range infoHashes {
		if s := t.liveSwarm(ih, now); s != nil {
			out[i] = s.scrape(t.completedLocked(ih))
		} else {
			out[i].Completed = t.completedLocked(ih)
		}
	}
	return out, nil
}
