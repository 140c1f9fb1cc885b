package swarm

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// maxCountedPeers bounds the distinct peers remembered per download.
const maxCountedPeers = 1024

// transferState accumulates one download's Transfer. The counters are
// updated from the library's callbacks, with its lock held: they must stay
// cheap and must not call back into the library.
type transferState struct {
	start   time.Time
	seeders []netip.AddrPort
	seeder  atomic.Int64
	mirror  atomic.Int64 // from other servers' seeders (serverpeers.go)
	others  atomic.Int64
	servers *serverHosts // the engine's; nil for none
	web     atomic.Int64
	// webReadNS is when a web seed's body last gave a byte (unix
	// nanoseconds; 0 for never), pieces not yet whole included: a web
	// seed asked again after it failed counts as a source (Download)
	// only once it sends.
	webReadNS atomic.Int64
	// The publisher's pieces that failed their hash (DamagedError): those
	// its seeders alone sent (seederBad, from the library's callback as
	// the piece fails) and those the torrent's own web seeds sent
	// (webBad, ownSeeds their URLs for the archive, set before any fetch
	// starts; badSeeds their hosts, guarded by mu). damagedCh closes when
	// they reach maxPublisherBadPieces.
	seederBad   atomic.Int64
	webBad      atomic.Int64
	ownSeeds    []string
	badSeeds    []string
	damagedOnce sync.Once
	damagedCh   chan struct{}
	firstNS     atomic.Int64 // unix nanoseconds of the first useful byte; 0 until then
	mu          sync.Mutex
	peers       map[netip.AddrPort]struct{} // other peers that sent useful data; guarded by mu
	mirrors     map[netip.AddrPort]struct{} // other servers' seeders that did; guarded by mu
	webHosts    map[string]struct{}         // web seeds that sent pieces; guarded by mu
	seedStats   []*seedStat                 // what each web seed did (Sources); guarded by mu
	webReach    webReach                    // how far web seeds' bodies came into each piece (seedStat.got)
	lastResort  bool                        // the web seeds were a last resort (WebSeedOrder); guarded by mu
	final       *Transfer                   // set when the download ended; guarded by mu
	startHad    int64                       // bytes complete when the download started
	// completed is the torrent's verified bytes at a Download's last
	// tick: Stopped's, for what was found on disk (alreadyHad), once the
	// torrent may be gone.
	completed atomic.Int64
	total     int64 // the torrent's length
	// heard holds the seeders whose last connection completed the
	// BitTorrent handshake for this torrent: true once that connection
	// then sent its BEP 10 handshake; guarded by mu. See lacking.
	heard map[netip.AddrPort]bool
	// failed is closed, with failErr set, when a chunk could not be
	// written: every Download of the torrent returns failErr.
	failed   chan struct{}
	failOnce sync.Once
	failErr  error
}

// maxWebSeedHosts bounds the web seeds a report names.
const maxWebSeedHosts = 16

// webSeedSent records that the web seed at host sent a piece.
func (s *transferState) webSeedSent(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.webHosts == nil {
		s.webHosts = map[string]struct{}{}
	}
	if len(s.webHosts) < maxWebSeedHosts {
		s.webHosts[host] = struct{}{}
	}
}

// webSeedBad records that the web seed at u (host after redirects) sent a
// piece that failed its hash. Only the torrent's own web seeds count: a
// mirror from the client's server_urls is not the publisher's copy, and
// one that is bad is left for the next seed (its error ends a download
// with no other source, NoSourceError).
func (s *transferState) webSeedBad(u, host string) {
	if !slices.Contains(s.ownSeeds, u) {
		return
	}
	s.mu.Lock()
	if !slices.Contains(s.badSeeds, host) && len(s.badSeeds) < maxWebSeedHosts {
		s.badSeeds = append(s.badSeeds, host)
	}
	s.mu.Unlock()
	s.webBad.Add(1)
	s.checkDamaged()
}

// seederSentBad records a piece that failed its hash which the publisher's
// seeders alone sent. Called with the library's lock held: cheap.
func (s *transferState) seederSentBad() {
	s.seederBad.Add(1)
	s.checkDamaged()
}

func (s *transferState) checkDamaged() {
	if s.seederBad.Load()+s.webBad.Load() >= maxPublisherBadPieces {
		s.damagedOnce.Do(func() { close(s.damagedCh) })
	}
}

// damaged is the error of a download whose publisher's sources sent
// maxPublisherBadPieces pieces that failed their hash (after damagedCh
// closed).
func (s *transferState) damaged(name string) error {
	seeder, web := s.seederBad.Load(), s.webBad.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &DamagedError{Torrent: name, Failures: int(seeder + web), WebSeeds: slices.Clone(s.badSeeds)}
	if seeder > 0 {
		e.Seeders = slices.Clone(s.seeders)
	}
	return e
}

// fail is the torrent's write-error hook (SetOnWriteChunkError).
func (s *transferState) fail(err error) {
	s.failOnce.Do(func() {
		s.failErr = err
		close(s.failed)
	})
}

func (s *transferState) isSeeder(remote netip.AddrPort, listenPort uint16) bool {
	_, ok := s.seederAt(remote, listenPort)
	return ok
}

// seederAt returns which of the seeders a peer at remote (listening on
// listenPort, 0 when not known) is.
func (s *transferState) seederAt(remote netip.AddrPort, listenPort uint16) (netip.AddrPort, bool) {
	for _, a := range s.seeders {
		if a.Addr() == remote.Addr() && (a.Port() == remote.Port() || a.Port() == listenPort) {
			return a, true
		}
	}
	return netip.AddrPort{}, false
}

// heardFrom records how a connection to one of the seeders went: it
// completed the BitTorrent handshake (spoke false), or then sent its BEP
// 10 handshake (spoke true).
func (s *transferState) heardFrom(remote netip.AddrPort, spoke bool) {
	a, ok := s.seederAt(remote, 0)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.heard == nil {
		s.heard = map[netip.AddrPort]bool{}
	}
	s.heard[a] = spoke
}

// lacking returns the seeders that are up and do not serve the torrent:
// their last connection completed the BitTorrent handshake and then said
// nothing more, and no seeder sent any of it in this download. A seeder
// built on the library (dist-server, a client's daemon) answers the
// handshake of a torrent it does not hold with its own, echoing the
// infohash, and closes the connection before any other message (client.go
// receiveHandshakes, runReceivedConn), and so it does when the torrent
// has no room for another connection (addPeerConn); one that takes the
// connection sends its BEP 10 handshake at once. Seen with the binaries
// on 127.0.0.1: an install of a package removed on the server since the
// client's sync, whose no-source error called the running seeder one
// that "did not accept a connection".
func (s *transferState) lacking() []netip.AddrPort {
	if s.seeder.Load() > 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []netip.AddrPort
	for _, a := range s.seeders {
		if spoke, ok := s.heard[a]; ok && !spoke && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// downloadRunning reports whether a Download of ih is in flight.
func (e *Engine) downloadRunning(ih metainfo.Hash) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.callers[ih] > 0
}

// onUsefulData is the library's ReceivedUsefulData callback.
func (e *Engine) onUsefulData(ev torrent.ReceivedUsefulDataEvent) {
	t := ev.Peer.Torrent()
	if t == nil || ev.Message == nil {
		return
	}
	s := e.lastTransfer(t.InfoHash())
	if s == nil {
		return
	}
	n := int64(len(ev.Message.Piece))
	s.firstNS.CompareAndSwap(0, time.Now().UnixNano())
	remote := peerAddrPort(ev.Peer.RemoteAddr)
	var listen uint16
	var name string
	if pc, ok := ev.Peer.TryAsPeerConn(); ok {
		listen = uint16(pc.PeerListenPort)
		name, _ = pc.PeerClientName.Load().(string)
	}
	s.received(remote, listen, name, n)
}

// A download's kinds of source over BitTorrent (transferState.source).
type peerSource int

const (
	fromPeer      peerSource = iota // another peer
	fromPublisher                   // the publisher's seeder, which the catalog names
	fromMirror                      // another server's seeder (serverpeers.go)
)

// source is what the peer at remote, listening on listen and naming
// itself name in its BEP 10 handshake, is to this download: the one place
// the report's sources are told apart. The publisher's seeder is known by
// its address, which the signed catalog gives; another server's by its
// name and a host of the client's server_urls, both needed (the name is
// the peer's word).
func (s *transferState) source(remote netip.AddrPort, listen uint16, name string) peerSource {
	switch {
	case s.isSeeder(remote, listen):
		return fromPublisher
	case s.servers != nil && isServerName(name) && s.servers.has(remote.Addr()):
		return fromMirror
	}
	return fromPeer
}

// received counts n useful bytes from the peer at remote, which listens
// on listen (its BEP 10 handshake's port; 0 when not known) and names
// itself name. A peer is counted by the address it listens on when it
// says so: its connection in from an ephemeral port and ours out to it
// are one peer (counted by the port each came from, three daemons
// installing at once on a network of hosts reported "from 5 other
// peers").
func (s *transferState) received(remote netip.AddrPort, listen uint16, name string, n int64) {
	src := s.source(remote, listen, name)
	if src == fromPublisher {
		s.seeder.Add(n)
		return
	}
	counted := s.peers
	if src == fromMirror {
		s.mirror.Add(n)
		counted = s.mirrors
	} else {
		s.others.Add(n)
	}
	if listen != 0 {
		remote = netip.AddrPortFrom(remote.Addr(), listen)
	}
	s.mu.Lock()
	if len(counted) < maxCountedPeers {
		counted[remote] = struct{}{}
	}
	s.mu.Unlock()
}

// onPeerHandshake is the library's CompletedHandshake callback (the
// client lock is not held).
func (e *Engine) onPeerHandshake(pc *torrent.PeerConn, ih metainfo.Hash) {
	if e.dials != nil {
		e.dials.handshake(peerAddrPort(pc.RemoteAddr))
	}
	if s := e.lastTransfer(ih); s != nil {
		s.heardFrom(peerAddrPort(pc.RemoteAddr), false)
	}
}

// onPeerSpoke is called with each BEP 10 handshake a peer sends.
func (e *Engine) onPeerSpoke(pc *torrent.PeerConn) {
	t := pc.Torrent()
	if t == nil {
		return
	}
	if s := e.lastTransfer(t.InfoHash()); s != nil {
		s.heardFrom(peerAddrPort(pc.RemoteAddr), true)
	}
}

// peerAddrPort is a peer's address, IPv4 unmapped. Where the address has
// an AddrPort method (a connection's *net.TCPAddr; the library's addresses
// of peers from trackers and PEX, library patch 21) it is taken as it is:
// formatting and parsing it again for every chunk received was most of this
// callback's cost in a profile of a bench-swarm row.
func peerAddrPort(a torrent.PeerRemoteAddr) netip.AddrPort {
	var ap netip.AddrPort
	if t, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		ap = t.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// startTransfer begins accounting a download of t whose publisher's
// seeder is at seeders.
func (e *Engine) startTransfer(t *torrent.Torrent, seeders []netip.AddrPort) *transferState {
	s := &transferState{start: time.Now(), seeders: seeders, servers: &e.servers, peers: map[netip.AddrPort]struct{}{}, mirrors: map[netip.AddrPort]struct{}{}, startHad: t.BytesCompleted(), total: t.Length(), failed: make(chan struct{}), damagedCh: make(chan struct{})}
	e.transfers.Store(t.InfoHash(), s)
	return s
}

// lastTransfer is the state of the last download of ih through this
// engine (startTransfer's), nil when there was none or it was forgotten
// (forgetTransferLater).
func (e *Engine) lastTransfer(ih InfoHash) *transferState {
	v, ok := e.transfers.Load(ih)
	if !ok {
		return nil
	}
	return v.(*transferState)
}

// transferKeep is how long the state of a torrent's last download is
// kept after it ended: its report is read as the download returns
// (Transfer, Stopped: the daemon's reply, an install's history entry),
// and the library's callbacks need it only while it runs. Kept for good,
// it grew a long-running daemon's engine by one state, with up to
// maxCountedPeers peers, for every package it ever downloaded.
const transferKeep = time.Minute

// forgetTransferLater forgets the state of ih's last download
// e.forgetAfter from now, unless a Download of ih is running then or
// another began since (its own state replaced this one). Called as the
// last Download of ih ends (abandon).
// The timer is stopped when the engine closes (stopForgetting): each
// held the closed engine for up to transferKeep.
func (e *Engine) forgetTransferLater(ih InfoHash) {
	s := e.lastTransfer(ih)
	if s == nil {
		return
	}
	e.forgetMu.Lock()
	defer e.forgetMu.Unlock()
	if e.forgets == nil { // closed
		return
	}
	var tm *time.Timer
	tm = time.AfterFunc(e.forgetAfter, func() {
		e.forgetMu.Lock()
		if e.forgets[ih] == tm {
			delete(e.forgets, ih)
		}
		e.forgetMu.Unlock()
		if !e.downloadRunning(ih) {
			e.transfers.CompareAndDelete(ih, s)
		}
	})
	// A later download of ih replaced the state the older timer would
	// forget; the newer timer forgets the newer state.
	if old := e.forgets[ih]; old != nil {
		old.Stop()
	}
	e.forgets[ih] = tm
}

// stopForgetting stops the forget timers, for Close.
func (e *Engine) stopForgetting() {
	e.forgetMu.Lock()
	defer e.forgetMu.Unlock()
	for _, tm := range e.forgets {
		tm.Stop()
	}
	e.forgets = nil
}

// setLastResort records whether the download's web seeds are a last
// resort.
func (s *transferState) setLastResort(v bool) {
	s.mu.Lock()
	s.lastResort = v
	s.mu.Unlock()
}
