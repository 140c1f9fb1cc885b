package tracker

// Reading a peers file (persist.go): every line checked as untrusted
// input, within the tracker's own bounds, before anything is restored.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"time"
)

type restoredSwarm struct {
	ih        [20]byte
	peers     []peer
	completed int32
	hosts     map[netip.Addr]hostDownloads // windows not ended
}

// readPeers reads a peers file and returns the peers to restore: every
// line checked, only live peers of served torrents kept.
func (t *Tracker) readPeers(f *os.File) ([]restoredSwarm, Restored, error) {
	var res Restored
	fi, err := f.Stat()
	if err != nil {
		return nil, res, err
	}
	if fi.Size() > t.opts.maxFile() {
		return nil, res, fmt.Errorf("%d bytes, more than the %d a full tracker writes", fi.Size(), t.opts.maxFile())
	}
	swarms, res, err := t.parsePeers(io.LimitReader(f, t.opts.maxFile()+1))
	return swarms, res, err
}

// parsePeers parses what Save writes; see readPeers.
func (t *Tracker) parsePeers(r io.Reader) ([]restoredSwarm, Restored, error) {
	var res Restored
	now := t.opts.Now()
	sc := bufio.NewScanner(r)
	// The larger of the two is the bound: the first must not be.
	sc.Buffer(make([]byte, 0, min(64<<10, t.opts.maxLine())), t.opts.maxLine())
	var out []restoredSwarm
	var h peersHeader
	seen := map[[20]byte]bool{}
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if n == 1 {
			if err := decodeStrict(line, &h); err != nil {
				return nil, res, fmt.Errorf("line 1 (the header): %w", err)
			}
			if h.Format != peersFormat || h.Version < 1 || h.Version > peersVersion {
				return nil, res, fmt.Errorf("line 1: format %.40q version %d, want %q version 1 to %d", h.Format, h.Version, peersFormat, peersVersion)
			}
			if h.Saved <= 0 {
				return nil, res, fmt.Errorf("line 1: saved %d is no time", h.Saved)
			}
			if h.Swarms < 0 || h.Swarms > t.opts.MaxTorrents {
				return nil, res, fmt.Errorf("line 1: %d swarms, want 0 to %d (the tracker's MaxTorrents)", h.Swarms, t.opts.MaxTorrents)
			}
			continue
		}
		if n-1 > h.Swarms {
			return nil, res, fmt.Errorf("line %d: more swarm lines than the %d the header says", n, h.Swarms)
		}
		sw, err := t.parseSwarm(line, h.Version, now, &res)
		if err != nil {
			return nil, res, fmt.Errorf("line %d: %w", n, err)
		}
		if seen[sw.ih] {
			return nil, res, fmt.Errorf("line %d: info hash %x listed twice", n, sw.ih)
		}
		seen[sw.ih] = true
		if len(sw.peers) > 0 || sw.completed > 0 {
			out = append(out, sw)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d longer than %d bytes (%d peers, the tracker's MaxPeersPerTorrent)", n+1, t.opts.maxLine(), t.opts.MaxPeersPerTorrent)
		}
		return nil, res, err
	}
	if n == 0 {
		return nil, res, errors.New("empty: no header line")
	}
	if n-1 < h.Swarms {
		return nil, res, fmt.Errorf("truncated: %d swarm lines of the %d the header says", n-1, h.Swarms)
	}
	return out, res, nil
}

// parseSwarm checks one swarm line and keeps its peers that are live and
// of a served torrent.
func (t *Tracker) parseSwarm(line []byte, version int, now time.Time, res *Restored) (restoredSwarm, error) {
	var sw savedSwarm
	if err := decodeStrict(line, &sw); err != nil {
		return restoredSwarm{}, err
	}
	var out restoredSwarm
	if len(sw.InfoHash) != 40 {
		return out, fmt.Errorf("info_hash %.50q is not 40 hex digits", sw.InfoHash)
	}
	if _, err := hex.Decode(out.ih[:], []byte(sw.InfoHash)); err != nil {
		return out, fmt.Errorf("info_hash %q: %w", sw.InfoHash, err)
	}
	if sw.Completed < 0 || sw.Completed > math.MaxInt32 {
		return out, fmt.Errorf("info hash %s: completed %d, want 0 to %d", sw.InfoHash, sw.Completed, math.MaxInt32)
	}
	if len(sw.Peers) == 0 && sw.Completed == 0 {
		return out, fmt.Errorf("info hash %s: no peers and no completed count", sw.InfoHash)
	}
	if len(sw.Peers) > t.opts.MaxPeersPerTorrent {
		return out, fmt.Errorf("info hash %s: %d peers, more than %d (the tracker's MaxPeersPerTorrent)", sw.InfoHash, len(sw.Peers), t.opts.MaxPeersPerTorrent)
	}
	served := t.Served(out.ih)
	if served {
		out.completed = int32(sw.Completed)
	}
	if err := t.parseHosts(&out, sw, version, served, now, res); err != nil {
		return out, err
	}
	addrs := make(map[netip.AddrPort]bool, len(sw.Peers))
	for i, sp := range sw.Peers {
		addr, err := netip.ParseAddrPort(sp.Addr)
		if err != nil {
			return out, fmt.Errorf("info hash %s: peer %d: %w", sw.InfoHash, i+1, err)
		}
		if addr.Port() == 0 || !addr.Addr().IsValid() || addr.Addr().IsUnspecified() {
			return out, fmt.Errorf("info hash %s: peer %d: %s is no peer address", sw.InfoHash, i+1, sp.Addr)
		}
		addr = unmap(addr)
		if addrs[addr] {
			return out, fmt.Errorf("info hash %s: peer %s listed twice", sw.InfoHash, addr)
		}
		addrs[addr] = true
		if sp.Seen <= 0 {
			return out, fmt.Errorf("info hash %s: peer %s: seen %d is no time", sw.InfoHash, addr, sp.Seen)
		}
		// A time after now (the clock stepped back since the stop, or a
		// forged file) counts as now: a peer lives a PeerTTL at most.
		seenAt := time.Unix(min(sp.Seen, now.Unix()), 0)
		switch {
		case !served:
			res.NotServed++
		case now.Sub(seenAt) >= t.opts.PeerTTL:
			res.Expired++
		default:
			out.peers = append(out.peers, peer{addr: addr, lastSeen: seenAt, seeder: sp.Seeder})
		}
	}
	return out, nil
}

// parseHosts checks the hosts' windows of a swarm line and keeps, for a
// served torrent, those not ended at now.
func (t *Tracker) parseHosts(out *restoredSwarm, sw savedSwarm, version int, served bool, now time.Time, res *Restored) error {
	if len(sw.Hosts) == 0 {
		return nil
	}
	if version < 3 {
		return fmt.Errorf("info hash %s: hosts in a version %d file (version 3 added them)", sw.InfoHash, version)
	}
	if sw.Completed == 0 {
		return fmt.Errorf("info hash %s: hosts without a completed count", sw.InfoHash)
	}
	if len(sw.Hosts) > t.opts.MaxPeersPerTorrent {
		return fmt.Errorf("info hash %s: %d hosts, more than %d (the tracker's MaxPeersPerTorrent)", sw.InfoHash, len(sw.Hosts), t.opts.MaxPeersPerTorrent)
	}
	nowSec := uint32(now.Unix())
	seen := make(map[netip.Addr]bool, len(sw.Hosts))
	for i, sh := range sw.Hosts {
		h, err := netip.ParseAddr(sh.Host)
		if err != nil {
			return fmt.Errorf("info hash %s: host %d: %w", sw.InfoHash, i+1, err)
		}
		if h != hostOf(h) || h.Is4In6() || h.Zone() != "" { // what hostOf makes of an unmapped address
			return fmt.Errorf("info hash %s: host %d: %s is no host (an IPv4 address, or an IPv6 /64's first address)", sw.InfoHash, i+1, sh.Host)
		}
		if seen[h] {
			return fmt.Errorf("info hash %s: host %s listed twice", sw.InfoHash, h)
		}
		seen[h] = true
		if sh.N < 1 || sh.N > math.MaxUint32 {
			return fmt.Errorf("info hash %s: host %s: n %d, want 1 to %d", sw.InfoHash, h, sh.N, uint32(math.MaxUint32))
		}
		if sh.Since <= 0 || sh.Since > math.MaxUint32 {
			return fmt.Errorf("info hash %s: host %s: since %d is no time", sw.InfoHash, h, sh.Since)
		}
		// A start after now (the clock stepped back, or a forged file)
		// counts as now: a window lasts a day at most. A count over
		// today's MaxPeersPerIP is that many: the allowance was used.
		d := hostDownloads{n: uint32(sh.N), since: min(uint32(sh.Since), nowSec)}
		if t.opts.MaxPeersPerIP > 0 {
			d.n = min(d.n, uint32(t.opts.MaxPeersPerIP))
		}
		switch {
		case !served:
		case expired(d.since, nowSec):
			res.HostsExpired++
		default:
			if out.hosts == nil {
				out.hosts = map[netip.Addr]hostDownloads{}
			}
			out.hosts[h] = d
			res.Hosts++
		}
	}
	return nil
}

// decodeStrict decodes one JSON value that must fill v exactly: no
// unknown keys, nothing after it.
func decodeStrict(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}
