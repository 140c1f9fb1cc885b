package tracker

// The completed downloads of each torrent (scrape's downloaded, the
// server's distpac_package_downloads_total) and the hosts that counted
// them, in one map of the tracker's, whether the torrent has a live swarm
// or not.

import (
	"math"
	"net/netip"
	"time"
)

// tally is what a torrent's completed downloads counted: the count, and
// each host's (hostOf) downloads in its current window (countDownload).
//
// A host whose window ended stays in hosts until the list is full
// (countDownload sweeps then, at most once a minute), not until the
// tracker's periodic sweep (Run): a sweep there would not lower the bound,
// and nobody sees such a host. The bound is MaxPeersPerTorrent hosts a
// tally, which one busy day reaches whether or not ended windows go
// early; at 82 bytes a host, 82 KB a torrent at the default 1000. Ended
// windows are not seen: countDownload starts a new one for such a host,
// Save writes only the windows not ended (savedTallyLocked), and scrape,
// the metrics and status read the count and the live peers, never hosts
// (TestEndedWindowsUnseen). Deleting them would free little anyway: a Go
// map keeps its size when entries are deleted.
type tally struct {
	completed int32
	// hosts is nil until a download counts.
	hosts map[netip.Addr]hostDownloads
	swept time.Time // when expired hosts were last looked for
}

// hostDownloads is one host's counted downloads of a torrent since since
// (Unix seconds, good until 2106): 8 bytes beside the key.
type hostDownloads struct {
	n     uint32
	since uint32
}

// downloadWindow is how long one host's counted downloads of a torrent
// are remembered (countDownload).
const downloadWindow = 24 * time.Hour

// expired reports whether a window that began at since has ended at now
// (Unix seconds).
func expired(since, now uint32) bool {
	return time.Duration(now-since)*time.Second >= downloadWindow
}

// countDownload reports whether a completed download from host h counts,
// and records it: at most perHost in a downloadWindow. A peer that
// completed, stopped and started again as a leecher under the same or a
// new port was counted every time: an attacker's loop added 5,000 to a
// package's downloads in 2.9 s. At most maxHosts hosts are remembered;
// when that many are, the expired ones go (looked for at most once a
// minute) or else any one, so a host is always recorded when it counts.
// An attacker with many addresses (a /48 holds 65,536 hosts of a /64)
// still adds perHost for each: tracker counts stay advisory.
func (c *tally) countDownload(h netip.Addr, now time.Time, perHost, maxHosts int) bool {
	if c.hosts == nil {
		c.hosts = map[netip.Addr]hostDownloads{}
	}
	sec := uint32(now.Unix())
	d, ok := c.hosts[h]
	if !ok || expired(d.since, sec) {
		d = hostDownloads{since: sec}
	}
	if perHost > 0 && int(d.n) >= perHost {
		return false
	}
	d.n++
	if !ok && len(c.hosts) >= max(maxHosts, 1) {
		if now.Sub(c.swept) >= time.Minute {
			c.swept = now
			for k, e := range c.hosts {
				if expired(e.since, sec) {
					delete(c.hosts, k)
				}
			}
		}
		for k := range c.hosts {
			if len(c.hosts) < max(maxHosts, 1) {
				break
			}
			delete(c.hosts, k)
		}
	}
	c.hosts[h] = d
	c.completed = addCounts(c.completed, 1)
	return true
}

// addCounts adds two counts of completed downloads, stopping at the
// largest an int32 (scrape's type) holds rather than wrapping negative:
// a restored count may be near it.
func addCounts(a, b int32) int32 {
	if a > math.MaxInt32-b {
		return math.MaxInt32
	}
	return a + b
}

// completedLocked is the torrent's count of completed downloads; t.mu is
// held.
func (t *Tracker) completedLocked(infoHash [20]byte) int32 {
	if c := t.tallies[infoHash]; c != nil {
		return c.completed
	}
	return 0
}

// tallyLocked returns the tally of a torrent that has a live swarm,
// making it when there is none yet; t.mu is held.
func (t *Tracker) tallyLocked(infoHash [20]byte) *tally {
	c := t.tallies[infoHash]
	if c == nil {
		c = &tally{}
		t.tallies[infoHash] = c
	}
	return c
}

// keepIdleLocked keeps the tally of a torrent that has no swarm (its
// swarm emptied, or Restore read it with no live peer), and reports
// whether it did: at most MaxTorrents such tallies are kept, and past
// that one goes with its swarm, as every count did before they were
// kept; t.mu is held. A swarm made again finds it (newSwarmLocked).
func (t *Tracker) keepIdleLocked(infoHash [20]byte, c *tally) bool {
	if c == nil || c.completed <= 0 || t.idleTallies >= t.opts.MaxTorrents {
		delete(t.tallies, infoHash)
		return false
	}
	t.tallies[infoHash] = c
	t.idleTallies++
	return true
}

// merge adds what Restore read of a torrent to its tally, and reports
// whether there was anything: the count to the count, and each host's
// window to the one counted since New (the earlier start, the sum). It
// keeps at most maxHosts hosts, as countDownload does, the ones counted
// since New first: Save writes them all, and Restore refuses a line of
// more.
func (c *tally) merge(sw restoredSwarm, maxHosts int) bool {
	c.completed = addCounts(c.completed, sw.completed)
	if len(sw.hosts) > 0 && c.hosts == nil {
		c.hosts = make(map[netip.Addr]hostDownloads, len(sw.hosts))
	}
	for h, d := range sw.hosts {
		e, ok := c.hosts[h]
		switch {
		case ok:
			d = hostDownloads{n: uint32(min(uint64(e.n)+uint64(d.n), math.MaxUint32)), since: min(e.since, d.since)}
		case len(c.hosts) >= max(maxHosts, 1):
			continue
		}
		c.hosts[h] = d
	}
	return sw.completed > 0
}
