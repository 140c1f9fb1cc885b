package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
)

// TestRefusalsLook: the early give-up's decisions, tick by tick. A
// download gives up early only when every tracker, seeder and web seed
// refused since it started, nothing is under way, refusedGrace passed and
// the seeders refused a dial made after it.
func TestRefusalsLook(t *testing.T) {
	// The dials are noted as they end (time.Now): the download started
	// long enough ago for its grace to be over now.
	start := time.Now().Add(-2 * refusedGrace)
	seeder := netip.MustParseAddrPort("127.0.0.1:6881")
	refusedErr := fmt.Errorf("dial tcp 127.0.0.1:6969: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	trackerDown := TrackerStatus{URL: "http://t/announce", At: start, Err: refusedErr}
	seed := "http://s/packages/"
	seedDown := seedErrors{{seed: seed, err: refusedErr, at: start.Add(time.Second)}}
	allDown := refusalView{trackers: []TrackerStatus{trackerDown}, direct: []netip.AddrPort{seeder}, seeds: []string{seed}, errs: seedDown}
	early := start.Add(time.Second)
	with := func(change func(v *refusalView)) refusalView {
		v := allDown
		change(&v)
		return v
	}
	for _, tc := range []struct {
		name           string
		view           refusalView
		graceOver      bool // looked at now, not early
		redial, giveUp bool
	}{
		{"all refused, before the grace", allDown, false, false, false},
		{"all refused, the grace over: the seeder dialled again", allDown, true, true, false},
		{"a dial under way", with(func(v *refusalView) { v.halfOpen = 1 }), true, false, false},
		{"a peer waiting to be dialled", with(func(v *refusalView) { v.pending = 1 }), true, false, false},
		{"a web-seed fetch running", with(func(v *refusalView) { v.webRunning = true }), true, false, false},
		{"a peer connected", with(func(v *refusalView) { v.peers = 1 }), true, false, false},
		{"data came", with(func(v *refusalView) { v.received = true }), true, false, false},
		{"the tracker answered", with(func(v *refusalView) { v.trackers = []TrackerStatus{{URL: "http://t/announce", At: start}} }), true, false, false},
		{"the tracker has not answered", with(func(v *refusalView) { v.trackers = []TrackerStatus{{URL: "http://t/announce"}} }), true, false, false},
		{"the tracker timed out", with(func(v *refusalView) {
			v.trackers = []TrackerStatus{{URL: "http://t/announce", At: start, Err: context.DeadlineExceeded}}
		}), true, false, false},
		{"the seeder answered and closed", with(func(v *refusalView) { v.lacking = []netip.AddrPort{seeder} }), true, false, false},
		{"a second seeder not dialled", with(func(v *refusalView) { v.direct = []netip.AddrPort{seeder, netip.MustParseAddrPort("127.0.0.2:6881")} }), true, false, false},
		{"a mirror not asked yet", with(func(v *refusalView) { v.seeds = []string{seed, "http://m/packages/"} }), true, false, false},
		{"the web seed answered 404", with(func(v *refusalView) {
			v.errs = seedErrors{{seed: seed, err: errors.New("HTTP 404 Not Found"), at: start.Add(time.Second)}}
		}), true, false, false},
		{"the web seed refused before the download", with(func(v *refusalView) {
			v.errs = seedErrors{{seed: seed, err: refusedErr, at: start.Add(-time.Second)}}
		}), true, false, false},
		{"nothing named but the seeder", refusalView{direct: []netip.AddrPort{seeder}}, true, false, false},
		{"no seeder named: nothing to dial again", with(func(v *refusalView) { v.direct = nil }), true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := &dialBook{}
			defer book.watch([]netip.AddrPort{seeder})()
			book.note(seeder.String(), refusedErr)
			r := refusals{start: start.Add(-time.Millisecond)}
			at := early
			if tc.graceOver {
				at = time.Now()
			}
			redial, giveUp := r.look(book, at, tc.view)
			if redial != tc.redial || giveUp != tc.giveUp {
				t.Errorf("look = redial %v, give up %v; want %v, %v", redial, giveUp, tc.redial, tc.giveUp)
			}
		})
	}

	// After the redial: the download waits for it, and gives up once it
	// was refused; a seeder that accepted it (restarted) is a source.
	for _, tc := range []struct {
		name   string
		second error // how the second dial ended; nil: it connected
		giveUp bool
	}{
		{"the second dial refused", refusedErr, true},
		{"the seeder back", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := &dialBook{}
			defer book.watch([]netip.AddrPort{seeder})()
			book.note(seeder.String(), refusedErr)
			r := refusals{start: start.Add(-time.Millisecond)}
			late := time.Now()
			if redial, _ := r.look(book, late, allDown); !redial {
				t.Fatal("no redial after the grace")
			}
			if _, giveUp := r.look(book, late.Add(200*time.Millisecond), allDown); giveUp {
				t.Fatal("gave up before the second dial ended")
			}
			book.note(seeder.String(), tc.second)
			if _, giveUp := r.look(book, late.Add(400*time.Millisecond), allDown); giveUp != tc.giveUp {
				t.Errorf("give up %v, want %v", giveUp, tc.giveUp)
			}
		})
	}
}

// refusedRig is a package whose every source refuses: its tracker, the
// publisher's seeder and the mirrors (server_urls) given.
type refusedRig struct {
	torrent []byte
	ih      InfoHash
	seeder  netip.AddrPort
	mirrors []string
}

func newRefusedRig(t *testing.T, announce string, mirrors int) refusedRig {
	t.Helper()
	meta, ih := buildArchive(t, t.TempDir(), "gone-1.0.0.tar.zst", 64<<10, announce)
	r := refusedRig{torrent: meta.Torrent, ih: ih, seeder: netip.MustParseAddrPort(nettest.Refused(t))}
	for range mirrors {
		r.mirrors = append(r.mirrors, MirrorSeed("http://"+nettest.Refused(t)))
	}
	return r
}

// TestEverySourceRefusedGivesUpEarly: real engines on 127.0.0.1. A
// download whose tracker, seeder and mirrors all refuse the connection
// (dist-server stopped) fails well before DefaultGiveUpAfter, with the
// error that names each and matches ErrUnreachable (dist-client's hint
// "is dist-server running?"). It waited the full 8 s, while a sync
// against the same server failed in 40 ms.
func TestEverySourceRefusedGivesUpEarly(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	for _, tc := range []struct {
		name    string
		mirrors int
		noSeed  bool
	}{
		{"tracker, seeder and server refused", 1, false},
		{"two mirrors, both refused", 2, false},
		{"no seeder named", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRefusedRig(t, "http://"+nettest.Refused(t)+"/announce", tc.mirrors)
			direct := []netip.AddrPort{r.seeder}
			if tc.noSeed {
				direct = nil
			}
			e, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", MirrorWebSeeds: r.mirrors})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			err = e.Download(ctx, r.torrent, direct, nil)
			took := time.Since(start)
			var ns *NoSourceError
			if !errors.As(err, &ns) || !errors.Is(err, ErrUnreachable) {
				t.Fatalf("after %v: %v, want a NoSourceError that every source refused", took.Round(time.Millisecond), err)
			}
			if limit := 5 * time.Second; took > limit {
				t.Errorf("gave up after %v, want well within DefaultGiveUpAfter (%v): under %v", took.Round(time.Millisecond), DefaultGiveUpAfter, limit)
			}
			for _, m := range r.mirrors {
				if !strings.Contains(err.Error(), "HTTP (last resort) "+m+"gone-1.0.0.tar.zst") {
					t.Errorf("the error does not name the mirror %s: %v", m, err)
				}
			}
			if want := fmt.Sprintf("the publisher's seeder (%s) did not accept a connection", r.seeder); !tc.noSeed && !strings.Contains(err.Error(), want) {
				t.Errorf("the error does not say %q: %v", want, err)
			}
			t.Logf("gave up after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

// TestNotEveryRefusalWaitsGiveUp: a download with a source that did
// not refuse, or may still answer, waits GiveUpAfter as before: a
// tracker that answered with no peer, one that does not answer, a seeder
// that accepts the connection and says nothing (busy, or a dial that
// lasts), a web seed that answered 404, a mirror that accepts and does
// not answer, and a peer connected with nothing to give.
func TestNotEveryRefusalWaitsGiveUp(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const giveUp = 4 * time.Second
	hanging := func(t *testing.T) string { a, _ := nettest.Hanging(t); return a }
	for _, tc := range []struct {
		name string
		// announce is the tracker's URL; seeder the seeder's address;
		// mirrors the mirrors' (each "" for a refusing one).
		announce func(t *testing.T) string
		seeder   func(t *testing.T) string
		mirrors  func(t *testing.T) []string
		peer     bool // a peer connected that has nothing
	}{
		{name: "the tracker knows no peer", announce: func(t *testing.T) string { _, u := startTracker(t); return u }},
		{name: "the tracker does not answer", announce: func(t *testing.T) string { return "http://" + hanging(t) + "/announce" }},
		{name: "the seeder accepts and says nothing", seeder: hanging},
		{name: "the server answers 404", mirrors: func(t *testing.T) []string { return []string{MirrorSeed("http://" + nettest.Answering(t, 404))} }},
		{name: "a second mirror accepts and does not answer", mirrors: func(t *testing.T) []string {
			return []string{MirrorSeed("http://" + nettest.Refused(t)), MirrorSeed("http://" + hanging(t))}
		}},
		{name: "a peer connected with nothing", peer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			announce := "http://" + nettest.Refused(t) + "/announce"
			if tc.announce != nil {
				announce = tc.announce(t)
			}
			r := newRefusedRig(t, announce, 1)
			if tc.seeder != nil {
				r.seeder = netip.MustParseAddrPort(tc.seeder(t))
			}
			if tc.mirrors != nil {
				r.mirrors = tc.mirrors(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), giveUp+3*time.Second)
			defer cancel()
			e, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", MirrorWebSeeds: r.mirrors, GiveUpAfter: giveUp})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- e.Download(ctx, r.torrent, []netip.AddrPort{r.seeder}, nil) }()
			if tc.peer {
				// Another client that has none of it either, waiting
				// for a source beyond the test's end.
				other, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				defer other.Close()
				go other.Download(ctx, r.torrent, nil, nil)
				waitUntil(t, ctx, "the other client holds the torrent", func() bool { return other.held(r.ih) != nil })
				addPeer(t, ctx, e, r.ih, other)
			}
			err = <-done
			took := time.Since(start)
			if err == nil {
				t.Fatal("the download succeeded")
			}
			if took < giveUp {
				t.Errorf("gave up after %v, want GiveUpAfter (%v) at least: %v", took.Round(time.Millisecond), giveUp, err)
			}
		})
	}
}

// TestRefusedSeederBackWithinGrace: the publisher's server restarted as
// the download began (everything refused, the seeder back 700 ms later,
// within refusedGrace): the download finds it at the second dial and
// completes, where giving up at the first refusals would fail an install
// for a restart.
func TestRefusedSeederBackWithinGrace(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seedDir := t.TempDir()
	meta, _ := buildArchive(t, seedDir, "back-1.0.0.tar.zst", 64<<10, "http://"+nettest.Refused(t)+"/announce")
	at := nettest.FreeAddr(t)
	seeder := netip.MustParseAddrPort(at)
	back := make(chan error, 1)
	var s *Engine
	time.AfterFunc(700*time.Millisecond, func() {
		var err error
		s, err = New(Config{Dir: seedDir, ListenAddr: at, DisableTrackers: true})
		if err == nil {
			_, err = s.Seed(ctx, meta.Torrent, true)
		}
		back <- err
	})
	e, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", MirrorWebSeeds: []string{MirrorSeed("http://" + nettest.Refused(t))}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	start := time.Now()
	if err := e.Download(ctx, meta.Torrent, []netip.AddrPort{seeder}, nil); err != nil {
		t.Fatalf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if err := <-back; err != nil { // s was set before
		t.Fatalf("the seeder's restart: %v", err)
	}
	s.Close()
	t.Logf("completed after %v", time.Since(start).Round(time.Millisecond))
}
