package tracker

// The peer table and the completed counts across a clean restart. A restarted tracker knew no peer
// until each client announced again (the interval, 30 s, ±10 % jitter; a
// seeding daemon that never noticed the restart waits all of it), and
// meanwhile every newcomer was sent to the publisher's seeder alone. Save
// writes the announced peers at a graceful stop and Restore reads them back
// at start, keeping those seen within PeerTTL by the wall clock and still
// served (Options.Allowed). After a kill -9 there is no fresh file, and one
// left from an earlier run holds only peers past their TTL.
//
// Each torrent's count of completed downloads (scrape's downloaded, the
// server's distpac_package_downloads_total) goes in the same file, on its
// swarm's line (version 2): it went back to 0 at every restart while the
// peers came back, and a counter that resets with no restart of the
// process reads as downloads lost. A torrent no longer served loses its
// count at the start, as it loses its peers.
//
// So do the hosts that counted each torrent's downloads in their current
// window (version 3), and their number: a host counts MaxPeersPerIP
// downloads of a torrent a day (countDownload), and one that had used its
// day's allowance got a fresh one at every restart. A window that ended
// while the server was down is left out at the start.
//
// The file is JSON lines, read one line at a time: a header, then one line
// per swarm (its peers, its count and hosts, or both). Its bounds are the
// tracker's own, so that no file restores more than announces could have
// put in the table: at most MaxTorrents swarm lines of at most
// MaxPeersPerTorrent peers and as many hosts each, a line at most
// (MaxPeersPerTorrent + 1) × maxPeerLine + MaxPeersPerTorrent ×
// maxHostLine bytes (208 KB at the default 1,000 peers) and the file at
// most MaxTorrents + 1 such lines (2.1 GB at the defaults, what a full
// table could write; IPv4 peers take 60 bytes
// each: 100,000 of them wrote 6.0 MB, and Save then Restore took 0.63 s
// on two shared cores, BenchmarkSaveRestore). Reading holds one line and
// what is kept, never the whole file.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/distpac/distpac/internal/fsutil"
)

// peersFormat names the file's format in its header line. Version 2
// added the completed counts, version 3 the hosts that counted them;
// Restore reads versions 1 and 2 too (the file a binary before wrote at
// the stop that upgraded it), and refuses a later one, as any file it
// cannot read: the tracker starts empty.
const (
	peersFormat  = "distpac tracker peers"
	peersVersion = 3
)

// maxPeerLine bounds the JSON of one peer in a swarm line: the longest
// is an IPv6 address with a zone, port, seeder flag and a 19-digit time,
// under 110 bytes; the rest of a line (the info hash and brackets) fits in
// the same again.
const maxPeerLine = 128

// maxHostLine bounds the JSON of one host's window in a swarm line: an
// IPv6 /64, a 10-digit count and a 19-digit time take 76 bytes.
const maxHostLine = 80

type peersHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Saved is when the file was written (Unix seconds), for a reader.
	Saved int64 `json:"saved"`
	// Swarms is how many swarm lines follow: a file cut at the end of a
	// line is told from a whole one.
	Swarms int `json:"swarms"`
}

type savedSwarm struct {
	InfoHash string      `json:"info_hash"` // 40 hex digits
	Peers    []savedPeer `json:"peers,omitempty"`
	// Completed is the swarm's count of completed downloads (version 2).
	Completed int64 `json:"completed,omitempty"`
	// Hosts are the hosts that counted downloads in their current window
	// (version 3), at most MaxPeersPerTorrent.
	Hosts []savedHost `json:"hosts,omitempty"`
}

// savedHost is one host's window of counted downloads (hostDownloads).
type savedHost struct {
	Host  string `json:"host"`  // hostOf: an IPv4 address, or an IPv6 /64's first address
	N     int64  `json:"n"`     // downloads counted in the window
	Since int64  `json:"since"` // when the window began, Unix seconds
}

type savedPeer struct {
	Addr   string `json:"addr"` // netip.AddrPort
	Seeder bool   `json:"seeder"`
	Seen   int64  `json:"seen"` // last announce, Unix seconds
}

// Restored is what Restore put back and what it left out.
type Restored struct {
	Swarms, Peers int
	// Counts is how many torrents got their completed count back.
	Counts int
	// Hosts is how many hosts' windows of counted downloads came back;
	// HostsExpired windows ended before Restore.
	Hosts, HostsExpired int
	// Expired peers were last seen PeerTTL or more before Restore;
	// NotServed ones are of torrents Allowed refuses (no longer
	// published); Over ones did not fit the tracker's bounds.
	Expired, NotServed, Over int
}

// ErrPeersFile marks a peers file Restore could not use (damaged,
// truncated, oversized, of another format); the tracker then starts empty.
var ErrPeersFile = errors.New("tracker peers file not used")

// maxLine is the longest swarm line a tracker with these options writes:
// its peers and its hosts' windows.
func (o *Options) maxLine() int {
	return (o.MaxPeersPerTorrent+1)*maxPeerLine + o.MaxPeersPerTorrent*maxHostLine
}

// maxFile is the largest peers file a tracker with these options writes.
func (o *Options) maxFile() int64 { return int64(o.MaxTorrents+1) * int64(o.maxLine()) }

// Save writes the live peers that announced (not the ones AddPeer pinned:
// the server registers its seeder again at start) and the torrents'
// completed counts to path, atomically (fsutil.WriteAtomic), and returns
// how many peers. Announces wait while it writes, so call it once the
// tracker no longer serves.
func (t *Tracker) Save(path string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	t.sweepLocked(now)
	n := 0
	err := fsutil.WriteAtomic(path, 0o600, func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		// At most MaxTorrents lines, what Restore takes: the pinned swarms
		// (a catalog of more packages) and the idle tallies may add up
		// to more. The swarms come first, so a count is what is left out.
		h := peersHeader{Format: peersFormat, Version: peersVersion, Saved: now.Unix(), Swarms: t.idleTallies}
		for ih, s := range t.torrents {
			if len(s.peers) > s.pinned || t.completedLocked(ih) > 0 {
				h.Swarms++
			}
		}
		h.Swarms = min(h.Swarms, t.opts.MaxTorrents)
		if err := enc.Encode(h); err != nil {
			return err
		}
		lines := 0
		put := func(line savedSwarm) error {
			lines++
			n += len(line.Peers)
			return enc.Encode(line)
		}
		for ih, s := range t.torrents {
			if lines == h.Swarms {
				break
			}
			if len(s.peers) == s.pinned && t.completedLocked(ih) == 0 {
				continue
			}
			line := t.savedTallyLocked(ih, now)
			for _, p := range s.peers {
				if !p.pinned {
					line.Peers = append(line.Peers, savedPeer{Addr: p.addr.String(), Seeder: p.seeder, Seen: p.lastSeen.Unix()})
				}
			}
			if err := put(line); err != nil {
				return err
			}
		}
		for ih := range t.tallies {
			if lines == h.Swarms {
				break
			}
			if t.torrents[ih] != nil {
				continue // on its swarm's line
			}
			if err := put(t.savedTallyLocked(ih, now)); err != nil {
				return err
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// savedTallyLocked is the swarm line of ih with its tally: the count and
// the hosts whose window has not ended at now; t.mu is held.
func (t *Tracker) savedTallyLocked(ih [20]byte, now time.Time) savedSwarm {
	line := savedSwarm{InfoHash: hex.EncodeToString(ih[:])}
	c := t.tallies[ih]
	if c == nil {
		return line
	}
	line.Completed = int64(c.completed)
	sec := uint32(now.Unix())
	for h, d := range c.hosts {
		if !expired(d.since, sec) {
			line.Hosts = append(line.Hosts, savedHost{Host: h.String(), N: int64(d.n), Since: int64(d.since)})
		}
	}
	return line
}

// Restore adds the peers saved at path (Save) to the tracker, those seen
// within PeerTTL and of torrents it serves, under its bounds, and removes
// the file: it is read once. Peers that announced since New keep their own
// entries. No file restores nothing and is no error. A file that is not
// what Save writes, anywhere in it, restores nothing: the error (wrapping
// ErrPeersFile) names the file and what is wrong; the file is removed all
// the same, and the caller warns and carries on.
func (t *Tracker) Restore(path string) (Restored, error) {
	// Not os.Open: a FIFO there blocked the open until a writer came, and
	// dist-server start hung for ever (OpenRegular refuses it unopened).
	f, err := fsutil.OpenRegular(path, true)
	if errors.Is(err, os.ErrNotExist) {
		return Restored{}, nil
	}
	var swarms []restoredSwarm
	var res Restored
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the path is said once, below
	} else if err == nil {
		swarms, res, err = t.readPeers(f)
		f.Close()
	}
	// Read once: were it read again at a start after a kill -9 within
	// PeerTTL, peers that announced "stopped" since would come back. One
	// that cannot be removed is not used.
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		rerr = fmt.Errorf("cannot remove it, so it is not used (a later start would restore peers that left since): %w", rerr)
		if err != nil {
			rerr = fmt.Errorf("%w; %w", err, rerr)
		}
		err = rerr
	}
	if err != nil {
		return Restored{}, fmt.Errorf("%w: %s: %w", ErrPeersFile, path, err)
	}
	return t.add(swarms, res), nil
}

// add puts the peers and counts read by parsePeers into the table, the
// peers under its bounds, and counts them into res.
func (t *Tracker) add(swarms []restoredSwarm, res Restored) Restored {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sw := range swarms {
		s := t.torrents[sw.ih]
		if s == nil && len(sw.peers) > 0 {
			if len(t.torrents) >= t.opts.MaxTorrents {
				res.Over += len(sw.peers)
			} else {
				s = t.newSwarmLocked(sw.ih)
			}
		}
		if s == nil {
			if c := t.tallies[sw.ih]; c != nil { // counted since New, its swarm gone since
				if c.merge(sw, t.opts.MaxPeersPerTorrent) {
					res.Counts++
				}
			} else if c := (&tally{}); c.merge(sw, t.opts.MaxPeersPerTorrent) && t.keepIdleLocked(sw.ih, c) {
				res.Counts++
			}
			continue
		}
		added := 0
		for _, p := range sw.peers {
			if _, ok := s.index[p.addr]; ok {
				continue // announced since start: that entry is newer
			}
			if len(s.peers) >= t.opts.MaxPeersPerTorrent ||
				t.opts.MaxPeersPerIP > 0 && s.perIP[hostOf(p.addr.Addr())] >= t.opts.MaxPeersPerIP {
				res.Over++
				continue
			}
			s.add(p)
			added++
			// Unlike an announce's, a restored peer may expire before the
			// swarm's next scan (scanAt) was due.
			if exp := p.lastSeen.Add(t.opts.PeerTTL); exp.Before(s.scanAt) {
				s.scanAt = exp
			}
		}
		res.Peers += added
		// Added to what announces since New counted; a swarm that empties
		// here (its peers over the bounds) keeps it idle (dropIfEmpty).
		if sw.completed > 0 {
			t.tallyLocked(sw.ih).merge(sw, t.opts.MaxPeersPerTorrent)
			res.Counts++
		}
		if !t.dropIfEmpty(sw.ih, s) && added > 0 {
			res.Swarms++
		}
	}
	return res
}
