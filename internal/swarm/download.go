package swarm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// DefaultGiveUpAfter is how long a download may have no source at all (no
// peer connected that has a piece it lacks, but for those that sent none
// of it for withholdGrace, nor one that gained a piece, nothing received,
// no web seed fetching) before it fails.
// A reachable tracker or seeder answers within milliseconds on a LAN and
// within a second across the world; the tracker is asked again after 5 s
// (hungryAnnounce), and the web seed is tried after DefaultWebSeedAfter,
// so 10 s gives each source a second chance and still tells the user what
// is wrong long before a two-minute stall timeout. A download whose every
// source refused the connection gives up sooner (refusedGrace): a refusal
// is its host's answer, not a silence to wait out.
const DefaultGiveUpAfter = 8 * time.Second

// dialGrace is how long peers being dialled (or waiting for their turn
// to be) count as a source with no other: no peer connected that has a
// piece the download lacks, nothing received, no web seed fetching. The
// library drops a dial after its timeout (20 s for a dial nobody answers,
// 4 s for a connection that does not complete the BitTorrent handshake),
// but the publisher's seeder is dialled again every directRedial: a
// seeder whose port accepts connections and never answers them (its
// process stopped with SIGSTOP, or hung) was always being dialled, and
// the download never gave up (dist-client's stall watchdog ended it after
// two minutes, blaming every peer; TestFrozenSeederGivesUp). A peer
// connected that sends nothing gets as long (withholdGrace).
const dialGrace = withholdGrace

// directRedial is how often the direct peers (the publisher's seeder) are
// handed to the library again while none of them is connected; the
// library forgets a peer whose dial failed.
const directRedial = 3 * time.Second

// errEngineClosed ends a download, running or waiting for its turn
// (maxDownloadsAtOnce), when the engine closes.
var errEngineClosed = errors.New("swarm: the engine was closed")

// ended is why a download must stop now: its context ended or the engine
// closed; nil otherwise.
func (e *Engine) ended(ctx context.Context) error {
	select {
	case <-e.stop:
		return errEngineClosed
	default:
		return ctx.Err()
	}
}

// maxDownloadsAtOnce bounds the downloads an engine runs at once; the others
// wait for a turn before their torrent is added, and give up with their
// context or when the engine closes. A download in progress holds the
// library's state of its torrent and a connection to each of its peers
// (buffers of about 100 KiB each), and an install of 1,000 small packages
// started them all at once: its peak RSS
// depended on how much the library's initial check of each missing file
// staggered them (109-132 MiB against a target of 128; patch 23, which made
// that check cheaper, brought 114.6-129.5 MiB in 6 runs). With 64 at once,
// measured beside the code before (make bench-many, interleaved, on a slow
// host): 1,000 packages in 5.8-8.7 s at 100-108 MiB (5 runs) against
// 8.1-9.3 s at 116-122 MiB, 250 in 1.2-1.5 s at 58 MiB against 1.9-2.1 s
// at 72-73 MiB.
const maxDownloadsAtOnce = 64

// Download fetches the torrent's file into Dir and returns when every piece
// is verified. The torrent stays in the engine afterwards, seeding, until
// Drop. direct are peers to connect to whatever the trackers say (the
// publisher's seeder, from the catalog). progress (may be nil) is called a
// few times a second. A download with no source for GiveUpAfter fails with
// a *NoSourceError that says what each source did.
func (e *Engine) Download(ctx context.Context, torrentBytes []byte, direct []netip.AddrPort, progress func(Progress)) error {
	select {
	case e.downloading <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-e.stop:
		return errEngineClosed
	}
	defer func() { <-e.downloading }()
	// The wait for sources counts from here: its turn taken, before the
	// torrent is added (its part file checked).
	began := time.Now()
	// A turn that came as the context ended or the engine closed is not taken.
	if err := e.ended(ctx); err != nil {
		return err
	}
	// A chunk that cannot be written (a full disk, an I/O error) ends the
	// download at once with the OS's error, which names the file; by
	// default the library stops downloading silently and the download
	// stalls until the caller's timeout blames the peers. The first caller
	// of a torrent sets up its transfer state and that hook before the
	// library wants any piece (add's before); a second install of the
	// package joins them, its report being the download's, and a write
	// error ends every caller (transferState.fail).
	var xfer *transferState
	e.vanishMu.Lock() // a vanished payload's drop (dropVanished) sees this download running or not at all
	t, err := e.add(torrentBytes, func(t *torrent.Torrent) {
		e.mu.Lock()
		first := e.callers[t.InfoHash()] == 0
		e.mu.Unlock()
		if s := e.lastTransfer(t.InfoHash()); !first && s != nil {
			xfer = s
			return
		}
		xfer = e.startTransfer(t, direct)
		for _, seed := range torrentmeta.WebSeeds(torrentBytes) {
			xfer.ownSeeds = append(xfer.ownSeeds, torrentmeta.WebSeedURL(seed, t.Name()))
		}
		t.SetOnWriteChunkError(xfer.fail)
	})
	if err == nil { // counted under vanishMu, as abandon and dropVanished check it
		e.mu.Lock()
		e.callers[t.InfoHash()]++
		e.mu.Unlock()
	}
	e.vanishMu.Unlock()
	if err != nil {
		return err
	}
	ih := t.InfoHash()
	defer e.abandon(ih)
	addDirect := func() {
		if len(direct) > 0 {
			t.AddPeers(directPeers(direct))
		}
	}
	// Every source refusing the connection ends the download early
	// (refused.go): the seeders' dials are watched from the first.
	defer e.dials.watch(direct)()
	refused := refusals{start: time.Now()}
	addDirect()
	// The web seeds: one fetch at a time per torrent. One that fails
	// hands over to the next seed at once (a mirror that is down costs a
	// refused connection or a short timeout); once every seed was tried,
	// the next round starts e.webSeedAfter after the last start
	// (webSeedDue: while the swarm moves, up to swarmWaits of those).
	web := webTurn{}
	web.seeds, web.lastResort = WebSeedOrder(e.MirrorWebSeeds(), torrentBytes)
	xfer.setLastResort(web.lastResort)
	xfer.setSeeds(web.seeds, t.Name(), web.lastResort)
	report := func() {
		if progress != nil {
			st := t.Stats()
			fetching, _ := e.webSeedState(ih)
			progress(Progress{Done: t.BytesCompleted(), Total: t.Length(), Peers: st.ActivePeers, Prefix: prefixBytes(t), Busy: web.busy,
				Sources: xfer.sources(st.ActivePeers, fetching)})
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	// Progress for stall detection is payload received from peers (a slow
	// link may take a while to finish one piece) or pieces completed (the
	// web seeds' pieces show up there).
	received := func() int64 { st := t.Stats(); return st.BytesReadData.Int64() + t.BytesCompleted() }
	lastRead, moved, restarts := received(), time.Now(), 0
	firstRead := lastRead
	// For the web seed's turn (webSeedDue): peersQuiet is the last time a
	// peer sent payload, kept across a stall restart (moved is not: it
	// paces the restarts, and the restarted torrent's check of the part
	// file moves it); swarmMoved the last time a connected peer gained a
	// piece, sampled every second while no payload comes.
	lastPeerRead, peersQuiet, peersQuietAt := int64(0), time.Now(), int64(0)
	// peerGot is when a peer last sent this download payload (zero: none
	// did): with the web seeds' last byte and began, the give-up says how
	// long nothing came (NoSourceError.Idle).
	var peerGot time.Time
	swarmMoved, swarmLooked, peersHeld := time.Now(), time.Now(), map[*torrent.PeerConn]uint64{}
	// holding is how many connected peers have a piece the download
	// lacks (of missing) and count as sources, seen at the last look
	// since data came; -1 when none was made since (lookPeers); unchoked
	// those of them that do not choke it. idlePeers is the most peers
	// looks found connected with none holding since then, withheld the
	// peers that hold pieces and withhold them at the last such look:
	// the give-up names them, though one gave up and left just before
	// (two such clients give up at about the same time). quiet is since
	// when each holding peer sent nothing (lookPeers), kept across a
	// restart: a peer that never serves is one after a restart too.
	holding, unchoked, missing, idlePeers := -1, 0, 0, 0
	var withheld []Withholder
	quiet := map[netip.AddrPort]time.Time{}
	// sourced is the last time anything could serve the download: a peer
	// connected, data arriving or a web-seed fetch running (webTrying);
	// dialed the last time a peer being dialled counted as one (dialGrace).
	sourced, redialed := time.Now(), time.Now()
	var dialed time.Time
	report() // at once: the caller knows the download has started (the daemon's stoppedOf)
	for {
		select {
		case <-t.Complete().On():
			report()
			xfer.finish(t)
			e.noteWhole(t) // every piece was verified as it came
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-e.stop:
			return errEngineClosed
		case <-xfer.failed:
			return fmt.Errorf("swarm: saving %s: %w", t.Name(), xfer.failErr)
		case <-xfer.damagedCh:
			return xfer.damaged(t.Name())
		case <-tick.C:
			report()
		}
		// Every Download of the torrent goes on with the one the engine
		// holds: another Download may have restarted it (restart), and the
		// torrent it dropped never completes.
		if nt := e.held(ih); nt != nil && nt != t {
			t = nt
			restarts++
			lastRead, moved, sourced = received(), time.Now(), time.Now()
			lastPeerRead, peersQuietAt = 0, 0 // the new torrent's count
			clear(peersHeld)
			holding, unchoked, idlePeers, withheld = -1, 0, 0, nil
		}
		st := t.Stats()
		peers := st.ActivePeers
		webSeed, webErr := e.webSeedState(ih)
		webRunning := webSeed != ""
		// A web-seed fetch running counts as a source, unless it asks
		// again a seed that failed with nothing from the web seeds since:
		// a seed that answers 404 (or 503, or a short body) after 300 ms
		// was seen running at a tick of every attempt, one each
		// webSeedAfter, and held a download with no other source until
		// the caller's stall timeout (dist-client: two minutes, "no data
		// received for 2m0s from any peer or web seed", naming no server);
		// answered within a tick, the same seed ended it in 8 s with its
		// answer. A seed asked again still has giveUpAfter to send.
		errs, _ := webErr.(seedErrors)
		webTrying := webRunning && !errs.failedSince(webSeed, time.Unix(0, xfer.webReadNS.Load()))
		// A peer being dialled, or waiting for its turn to be, counts as a
		// source being tried: with hundreds of torrents starting at once,
		// dials queue behind the engine's dial rate and half-open limits.
		// A peer whose dial fails leaves the pending set.
		// Connected peers count while one of them has a piece the download
		// lacks (or none was looked at since data came), and until
		// giveUpAfter after one gained a piece (swarmMoved): peers that
		// have only what the download has, the seeder of all gone, held it
		// until the caller's stall timeout. Such peers stay connected (no
		// restart), and what they gain later is taken from them.
		if peers > 0 && holding != 0 || webTrying {
			sourced = time.Now()
		}
		if (st.HalfOpenPeers > 0 || st.PendingPeers > 0) && time.Since(sourced) <= dialGrace {
			dialed = time.Now()
		}
		// Peers count as sending once peerFloorBytes more came: a peer
		// that trickles a chunk every few seconds (a hostile have-all peer,
		// or a hopeless link) does not hold the web seeds off.
		if n := st.BytesReadData.Int64(); n != lastPeerRead {
			lastPeerRead, peerGot = n, time.Now()
			if n-peersQuietAt >= peerFloorBytes || n < peersQuietAt {
				peersQuietAt, peersQuiet = n, time.Now()
			}
		}
		// Data that came moves the stall and give-up clocks, and the
		// checks below wait on them; the web seed's turn is decided all
		// the same, by the peers' rate (peersQuiet). Skipping the rest of
		// the tick whenever a byte came let a peer that trickles a chunk
		// into every tick hold the web seed off for good: under load, with
		// ticks late, TestTricklingPeerDoesNotHoldWebSeedOff's peer (a
		// chunk every 300 ms) did for 20 s in a clean clone's make test.
		completed := t.BytesCompleted()
		xfer.completed.Store(completed)
		if n := st.BytesReadData.Int64() + completed; n != lastRead { // received(), from st
			lastRead, moved, sourced = n, time.Now(), time.Now()
			web.heard()
			holding, unchoked, idlePeers, withheld = -1, 0, 0, nil
			clear(quiet) // a peer's grace counts from the stall it is looked at in
		}
		if time.Since(peersQuiet) > time.Second && time.Since(swarmLooked) > time.Second {
			swarmLooked = time.Now()
			if peersGained(t, peersHeld) {
				swarmMoved = time.Now()
			}
			if time.Since(moved) > time.Second {
				look := lookPeers(t, quiet, time.Now())
				holding, unchoked, missing = look.holding, look.unchoked, look.missing
				idlePeers, withheld = max(idlePeers, look.idle), look.withholders
				if holding > 0 {
					idlePeers, withheld = 0, nil
				}
			}
		}
		if swarmMoved.After(sourced) {
			sourced = swarmMoved
		}
		// The direct peers are dialled again while no connected peer has
		// anything to give: the publisher's seeder that comes back.
		if (peers == 0 || holding == 0) && time.Since(redialed) > directRedial {
			redialed = time.Now()
			addDirect()
		}
		web.look(errs, webRunning, time.Since(moved), e.busyWait, time.Now())
		if web.source() {
			sourced = time.Now()
		}
		failure := func() *NoSourceError {
			got := later(peerGot, time.Unix(0, xfer.webReadNS.Load()))
			ns := &NoSourceError{Torrent: t.Name(), Idle: time.Since(later(began, got)), Received: got.After(began), Trackers: e.TrackerStatus(ih), Direct: direct, Lacking: xfer.lacking(), Mute: e.dials.mute(ih, direct), WebSeeds: web.seeds, WebErr: webErr, Mirror: e.mirror, Withholding: withheld}
			if idlePeers > 0 || len(withheld) > 0 {
				ns.Connected, ns.Missing, ns.Pieces = idlePeers, missing, t.NumPieces()
			}
			return ns
		}
		// Every source refused since the download started, and the
		// seeders again after refusedGrace: it had none all along. Not
		// looked at again once anything was heard.
		if !refused.heard {
			redial, giveUp := refused.look(e.dials, time.Now(), refusalView{peers: peers, halfOpen: st.HalfOpenPeers, pending: st.PendingPeers,
				received: lastRead != firstRead || restarts > 0, webRunning: webRunning, trackers: e.TrackerStatus(ih),
				direct: direct, lacking: xfer.lacking(), seeds: web.seeds, errs: errs})
			if redial {
				redialed = time.Now()
				addDirect()
			}
			if giveUp {
				if ns := failure(); ns.Unreachable() {
					return ns
				}
			}
		}
		if time.Since(later(sourced, dialed)) > e.giveUpAfter {
			ns := failure()
			if web.busyOut {
				ns.Busy = e.busyWait
			}
			return ns
		}
		// With nothing else left to try, the web seeds are asked at once
		// (webTurn.start).
		noSource := peers == 0 && st.HalfOpenPeers == 0 && st.PendingPeers == 0 &&
			time.Since(moved) > strandedAfter && trackersAnswered(e.TrackerStatus(ih))
		web.start(e, t, xfer, webTick{now: time.Now(), running: webRunning, err: webErr, noSource: noSource,
			seedsConn: st.ConnectedSeeders > 0, moved: moved, peersQuiet: peersQuiet, swarmMoved: swarmMoved, after: e.webSeedAfter})
		// The library can wedge a connection (seen once in many runs under
		// heavy load, after a peer was killed mid-transfer): with peers
		// connected, one of which has a piece the download lacks, nothing
		// arrives. Starting the torrent afresh keeps the verified pieces
		// (Drop forgets their state, so the part file is hashed again) and
		// reconnects. Peers that have no piece it lacks are not stuck, and
		// are not dropped: a restart lost those found through a tracker
		// that was down by then (the publisher stopped mid-transfer), and
		// the install failed with "listed 3 peers, none answered". Each
		// Download of a torrent sees the stall; the first to get here
		// restarts it, and every one takes the new torrent up at its next
		// tick (above), which counts as its restart. Two installs of one
		// package through the daemon waited on a wedged torrent until
		// their contexts ended while the restart ran only for a lone
		// Download. A peer that chokes the download is not stuck either:
		// it was asked for nothing, and a restart dropped a busy seeder's
		// connection as its rechoke round came (a peer choking for 10 s
		// then serving took 20 s: TestChokedForARoundIsNotCut).
		if time.Since(moved) > e.stallAfter && peers > 0 && unchoked > 0 && restarts < 3 {
			if err := e.restart(t, torrentBytes, xfer.fail, direct); err != nil {
				return err
			}
		}
	}
}

// peerFloorBytes is how much payload peers must send to count as sending
// (webSeedDue's peer idle time, and the last resort's): 32 KiB, two
// chunks, in DefaultWebSeedAfter is 6.4 KiB/s, which any working peer
// beats.
const peerFloorBytes = 32 << 10

// strandedAfter is how long a download with no source left waits before
// it turns to the web seeds early: long enough for the direct seeder's
// dial and the first announce to be answered.
const strandedAfter = time.Second

// trackersAnswered reports whether every tracker has answered (or failed)
// at least once.
func trackersAnswered(ts []TrackerStatus) bool {
	for _, t := range ts {
		if t.At.IsZero() {
			return false
		}
	}
	return true
}
