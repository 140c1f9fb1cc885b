package swarm

// A download whose every source refused the connection gives up within
// seconds: the publisher's server is stopped, or named wrongly, and a
// refusal is its host's definite answer. It waited DefaultGiveUpAfter
// (8 s) as for a source that may still answer, while a sync against the
// same server failed in 40 ms with the same hint ("is dist-server
// running?").

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// refusedGrace is how long after its start a download whose every source
// refused waits before it gives up, and the publisher's seeder is then
// dialled once more: only if that dial is refused too does it fail.
//
// apt and pacman say "connection refused" at once and leave the retry to
// the user, as dist-client sync does (about 40 ms); what they do not do
// is fail an install because the server was being restarted. dist-server
// killed by its PID and started again as soon as it exited refused
// connections for 1.3-1.7 s at each of its three ports (5 restarts on a
// loaded 2-core machine: the ports close as the stop begins, the stop
// takes about a second more, the start 0.2-0.6 s). With the binaries, an
// install begun as the server exited, the server started again 0.5, 1.0,
// 1.3 or 1.5 s later, completed (1.3-3.4 s); started again 2 s later, the
// install failed after 2.2 s (before: completed after 3.2 s, at the
// seeder's redial). A server that stays down fails the install after
// 1.87-1.95 s, with or without the daemon, where it took 8.1-8.2 s. The
// web seeds, asked after strandedAfter, are not asked again: the seeder
// back serves the download.
const refusedGrace = 1500 * time.Millisecond

// refusals follows a download's sources for the early give-up: at each
// tick, look says whether every source has refused since the download
// started (and nothing was heard), whether to dial the seeders again to
// confirm it, and whether to give up now.
type refusals struct {
	start time.Time // the download's start
	// heard: since start a peer was connected, data came or a tracker
	// answered; a download that heard anything waits GiveUpAfter as
	// before.
	heard bool
	// confirm is when the seeders were dialled again, every source
	// having refused (zero: not yet, or not every source refuses now).
	confirm time.Time
}

// refusalView is what a download sees at a tick.
type refusalView struct {
	peers, halfOpen, pending int  // the library's counts of peers
	received                 bool // payload came since the download started
	webRunning               bool // a web-seed fetch runs
	trackers                 []TrackerStatus
	direct                   []netip.AddrPort // the publisher's seeders
	lacking                  []netip.AddrPort // of direct, those that answered and closed
	seeds                    []string         // the web seeds the download tries (WebSeedOrder)
	errs                     seedErrors       // how each failed, as the engine has it
}

// look decides at now: redial the seeders to confirm that every source
// refuses (the caller adds them to the torrent again), or give up.
func (r *refusals) look(dials *dialBook, now time.Time, v refusalView) (redial, giveUp bool) {
	if v.peers > 0 || v.received {
		r.heard = true
	}
	for _, t := range v.trackers {
		if !t.At.IsZero() && t.Err == nil {
			r.heard = true
		}
	}
	if r.heard || !r.everyRefused(dials, v) {
		r.confirm = time.Time{}
		return false, false
	}
	// A dial or a fetch under way may yet be answered (a dial that is
	// dropped, not refused, lasts until its timeout).
	if v.halfOpen > 0 || v.pending > 0 || v.webRunning {
		return false, false
	}
	if r.confirm.IsZero() {
		if now.Sub(r.start) < refusedGrace {
			return false, false
		}
		r.confirm = now
		return len(v.direct) > 0, len(v.direct) == 0
	}
	for _, a := range v.direct {
		if !dials.refusedSince(a, r.confirm) {
			return false, false // the confirming dial has not ended yet
		}
	}
	return false, true
}

// everyRefused reports whether every tracker's last announce, every
// seeder's last dial since the download started and every web seed's
// last fetch since then were refused, and at least one tracker or web
// seed was asked (as NoSourceError.Unreachable counts them).
func (r *refusals) everyRefused(dials *dialBook, v refusalView) bool {
	if len(v.lacking) > 0 || len(v.trackers)+len(v.seeds) == 0 {
		return false
	}
	for _, t := range v.trackers {
		if t.At.IsZero() || !connRefused(t.Err) {
			return false
		}
	}
	for _, a := range v.direct {
		if !dials.refusedSince(a, r.start) {
			return false
		}
	}
	for _, s := range v.seeds {
		if !v.errs.refusedSince(s, r.start) {
			return false // untried, or it failed otherwise
		}
	}
	return true
}

// refusedSince reports whether seed's last fetch was refused the
// connection, after t.
func (errs seedErrors) refusedSince(seed string, t time.Time) bool {
	for _, e := range errs {
		if e.seed == seed {
			return e.at.After(t) && connRefused(e.err)
		}
	}
	return false
}

// dialBook records, for the addresses downloads watch (the publisher's
// seeders), when the engine's last dial there was refused, and when one
// last connected and when a connection last completed the BitTorrent
// handshake. The library drops a failed dial without a word (client.go
// dialAndCompleteHandshake); the no-source error said the seeder "did not
// accept a connection" of one it never reached as well, and of one that
// accepted connections and never answered on them (stopped with SIGSTOP,
// or hung).
type dialBook struct {
	mu      sync.Mutex
	watched map[netip.AddrPort]int       // how many downloads watch each address; guarded by mu
	refused map[netip.AddrPort]time.Time // of watched, when the last dial was refused; absent when it was not; guarded by mu
	// Of watched, when a dial last connected, and when a connection last
	// completed the BitTorrent handshake; guarded by mu.
	connected, shook map[netip.AddrPort]time.Time
}

// watch has the outcomes of dials to addrs recorded until the returned
// func is called.
func (b *dialBook) watch(addrs []netip.AddrPort) (unwatch func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watched == nil {
		b.watched, b.refused = map[netip.AddrPort]int{}, map[netip.AddrPort]time.Time{}
		b.connected, b.shook = map[netip.AddrPort]time.Time{}, map[netip.AddrPort]time.Time{}
	}
	for _, a := range addrs {
		b.watched[unmapped(a)]++
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, a := range addrs {
			a = unmapped(a)
			if b.watched[a]--; b.watched[a] <= 0 {
				delete(b.watched, a)
				delete(b.refused, a)
				delete(b.connected, a)
				delete(b.shook, a)
			}
		}
	}
}

// note records how a dial to addr (host:port) ended.
func (b *dialBook) note(addr string, err error) {
	a, perr := netip.ParseAddrPort(addr)
	if perr != nil {
		return
	}
	a = unmapped(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watched[a] == 0 {
		return
	}
	if connRefused(err) {
		b.refused[a] = time.Now()
	} else {
		delete(b.refused, a) // connected, or failed otherwise: not a refusal
	}
	if err == nil {
		b.connected[a] = time.Now()
	}
}

// handshake records that a connection with a (a peer's address)
// completed the BitTorrent handshake.
func (b *dialBook) handshake(a netip.AddrPort) {
	a = unmapped(a)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watched[a] > 0 {
		b.shook[a] = time.Now()
	}
}

// mute returns those of addrs whose last dial connected, whose
// connections completed no BitTorrent handshake since, and that still
// answer none (probeMute): the process behind the port is stopped or
// hung, the kernel accepting for it. One that closes a connection before
// the handshake (a library seeder holding no torrent) is not.
func (b *dialBook) mute(ih [20]byte, addrs []netip.AddrPort) []netip.AddrPort {
	b.mu.Lock()
	var maybe []netip.AddrPort
	for _, a := range addrs {
		u := unmapped(a)
		c, ok := b.connected[u]
		_, refused := b.refused[u]
		if ok && !refused && !b.shook[u].After(c) && !slices.Contains(maybe, a) {
			maybe = append(maybe, a)
		}
	}
	b.mu.Unlock()
	var out []netip.AddrPort
	for _, a := range maybe {
		if probeMute(a, ih) {
			out = append(out, a)
		}
	}
	return out
}

// muteProbeWait is how long probeMute waits for an answer to its
// handshake: a live seeder answers within milliseconds, or closes.
const muteProbeWait = 2 * time.Second

// probeMute dials a, offers the library's BitTorrent handshake for ih,
// and reports whether the connection was accepted and then nothing came
// back, not even its close, within muteProbeWait.
func probeMute(a netip.AddrPort, ih [20]byte) bool {
	c, err := net.DialTimeout("tcp", a.String(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(muteProbeWait))
	h := metainfo.Hash(ih)
	_, err = pp.Handshake(context.Background(), c, &h, muteProbeID, pp.PeerExtensionBits{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// muteProbeID is the peer id probeMute's handshake gives.
var muteProbeID = [20]byte([]byte("-DP0000-mute-probe00"))

// refusedSince reports whether the last dial to a was refused, after t.
func (b *dialBook) refusedSince(a netip.AddrPort, t time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.refused[unmapped(a)]
	return ok && at.After(t)
}

func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// notingDialer is one of the library's dialers (a listening socket, so
// that dials leave from it as before) that tells book how each dial ended.
type notingDialer struct {
	torrent.Dialer
	book *dialBook
}

func (d notingDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := d.Dialer.Dial(ctx, addr)
	d.book.note(addr, err)
	return c, err
}
