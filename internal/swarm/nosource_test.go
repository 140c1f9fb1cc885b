package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/trackerclient"
)

// TestNoSourceWording: the no-source error blames a seeder for refusing
// connections only when it did; one that answered and closed is called
// reachable without the archive, and taken as a sign of withdrawal, unless
// a tracker lists peers for the torrent.
func TestNoSourceWording(t *testing.T) {
	seeder := netip.MustParseAddrPort("127.0.0.1:6881")
	mirror := netip.MustParseAddrPort("127.0.0.2:6881")
	notServed := TrackerStatus{URL: "http://t/announce", At: time.Now(), Err: &trackerclient.FailureError{Reason: trackerclient.ReasonNotServed}}
	knowsNone := TrackerStatus{URL: "http://t/announce", At: time.Now()}
	trackerDown := TrackerStatus{URL: "http://t/announce", At: time.Now(), Err: errors.New("dial tcp 127.0.0.1:6969: connect: connection refused")}
	for _, tc := range []struct {
		name    string
		err     NoSourceError
		want    []string
		notWant []string
	}{
		{"seeder down", NoSourceError{Trackers: []TrackerStatus{knowsNone}, Direct: []netip.AddrPort{seeder}},
			[]string{"the publisher's seeder (127.0.0.1:6881) did not accept a connection"},
			[]string{"reachable", "withdrawn"}},
		{"withdrawn, the tracker refuses", NoSourceError{Trackers: []TrackerStatus{notServed}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}},
			[]string{"the publisher's seeder (127.0.0.1:6881) is reachable but does not have this archive", "(the package was withdrawn since your last sync: run dist-client sync)"},
			[]string{"did not accept", "probably"}},
		{"withdrawn, seen by a mirror", NoSourceError{Trackers: []TrackerStatus{notServed}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}, Mirror: true},
			[]string{"(the primary probably withdrew it after signing the catalog this mirror holds: its next sync of the primary drops it)"},
			[]string{"dist-client sync"}},
		{"withdrawn, an open tracker", NoSourceError{Trackers: []TrackerStatus{knowsNone}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}},
			[]string{"the publisher's seeder (127.0.0.1:6881) is reachable but does not have this archive", "(it was probably withdrawn since your last sync: run dist-client sync)"},
			[]string{"did not accept"}},
		{"withdrawn, the seeder down", NoSourceError{Trackers: []TrackerStatus{notServed}, Direct: []netip.AddrPort{seeder}},
			[]string{"the publisher's seeder (127.0.0.1:6881) did not accept a connection", "(the package was withdrawn since your last sync: run dist-client sync)"},
			[]string{"reachable"}},
		{"two seeders, one down", NoSourceError{Trackers: []TrackerStatus{knowsNone}, Direct: []netip.AddrPort{seeder, mirror}, Lacking: []netip.AddrPort{mirror}},
			[]string{"the publisher's seeder (127.0.0.1:6881) did not accept a connection", "the publisher's seeder (127.0.0.2:6881) is reachable but does not have this archive", "(it was probably withdrawn"},
			nil},
		// No tracker answered (down, or none named): a seeder that closed
		// after the handshake may only be full, and sync would not help.
		{"the tracker down", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}},
			[]string{"the publisher's seeder (127.0.0.1:6881) answered but closed the connection (it has no room for another peer, or no longer has this archive)"},
			[]string{"does not have this archive", "withdrawn"}},
		{"no tracker", NoSourceError{Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}},
			[]string{"answered but closed the connection"},
			[]string{"does not have this archive", "withdrawn"}},
		// The server's web seed sent a piece that failed its hash: its copy
		// is damaged (its seeder, which checks at start, left it out), and
		// a sync would not help.
		{"the server's copy damaged", NoSourceError{Trackers: []TrackerStatus{knowsNone}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder},
			WebSeeds: []string{"http://s/packages/"}, WebErr: seedErrors{{seed: "http://s/packages/", err: fmt.Errorf("web seed http://s/packages/pkg-1.0.0.tar.zst: piece 22 %w", errPieceMismatch)}}},
			[]string{"piece 22 does not match its hash", "(the server's copy of the archive is damaged"},
			[]string{"withdrawn", "dist-client sync"}},
		// Peers listed: the seeder may just be full (a capped publisher's
		// slots), so no withdrawal is claimed.
		{"the tracker lists peers", NoSourceError{Trackers: []TrackerStatus{{URL: "http://t/announce", At: time.Now(), Peers: 3}}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}},
			[]string{"tracker http://t/announce listed 3 peers, none answered", "the publisher's seeder (127.0.0.1:6881) answered but closed the connection (it has no room for another peer, or no longer has this archive)"},
			[]string{"did not accept", "does not have", "withdrawn"}},
		// Peers connected with nothing it lacks (the seeder of all
		// stopped): the tracker's peers answered, and have no more.
		{"peers connected without the missing pieces", NoSourceError{Trackers: []TrackerStatus{{URL: "http://t/announce", At: time.Now(), Peers: 3}}, Direct: []netip.AddrPort{seeder},
			Connected: 2, Missing: 12, Pieces: 64},
			[]string{"no source for pkg-1.0.0.tar.zst in 8s: 2 peers connected, none has the pieces still missing (12 of 64 pieces); tracker http://t/announce listed 3 peers;", "the publisher's seeder (127.0.0.1:6881) did not accept a connection"},
			[]string{"answered", "withdrawn"}},
		// Some of it came first (the publisher gone mid-transfer): the
		// time is how long nothing came since, not a wait from the start.
		{"some received, then nothing", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}, Received: true,
			Connected: 2, Missing: 12, Pieces: 64},
			[]string{"no source for pkg-1.0.0.tar.zst: nothing received for 8s: 2 peers connected, none has the pieces still missing (12 of 64 pieces);"},
			[]string{" in 8s"}},
		// Peers that claim the pieces and withhold them: each named with
		// what it did, a direct one not called down or closed.
		{"peers withholding the pieces", NoSourceError{Trackers: []TrackerStatus{{URL: "http://t/announce", At: time.Now(), Peers: 3}}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder},
			Connected: 1, Missing: 12, Pieces: 64, Withholding: []Withholder{
				{Peer: seeder, All: true, Choked: true, For: 23 * time.Second},
				{Peer: mirror, Has: 3, Asked: 12, For: 20 * time.Second},
				{Peer: netip.MustParseAddrPort("127.0.0.3:6881"), Has: 1, For: 16 * time.Second}}},
			[]string{"no source for pkg-1.0.0.tar.zst in 8s: peer 127.0.0.1:6881 claims every piece but has kept us choked for 23s; " +
				"peer 127.0.0.2:6881 has 3 of the pieces still missing but answered none of our requests in 20s; " +
				"peer 127.0.0.3:6881 has 1 of the pieces still missing but has sent nothing for 16s; " +
				"1 other peer connected, none has the pieces still missing (12 of 64 pieces); tracker http://t/announce listed 3 peers;"},
			[]string{"the publisher's seeder", "none answered", "withdrawn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.err.Torrent, tc.err.Idle = "pkg-1.0.0.tar.zst", 8*time.Second
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q\nlacks %q", msg, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("%q\nsays %q", msg, w)
				}
			}
		})
	}
}

// TestNoSourceUnreachable: a download matches ErrUnreachable (dist-client
// then asks whether dist-server runs) only when every tracker and web seed
// tried refused the connection, and no seeder answered; peers connected
// with none of the pieces missing do not count.
func TestNoSourceUnreachable(t *testing.T) {
	seeder := netip.MustParseAddrPort("127.0.0.1:6881")
	refused := fmt.Errorf("dial tcp 127.0.0.1:6969: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	trackerDown := TrackerStatus{URL: "http://t/announce", At: time.Now(), Err: refused}
	trackerSilent := TrackerStatus{URL: "http://t/announce"}
	knowsNone := TrackerStatus{URL: "http://t/announce", At: time.Now()}
	timedOut := TrackerStatus{URL: "http://t/announce", At: time.Now(), Err: context.DeadlineExceeded}
	seedDown := seedErrors{{seed: "http://s/packages/", err: fmt.Errorf("HTTP (last resort) http://s/packages/x: %w", refused)}}
	seed404 := seedErrors{{seed: "http://s/packages/", err: errors.New("HTTP (last resort) http://s/packages/x: 404 Not Found")}}
	for _, tc := range []struct {
		name string
		err  NoSourceError
		want bool
	}{
		{"all refused", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}, WebErr: seedDown}, true},
		{"tracker refused, no web seed", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}}, true},
		{"web seed refused, no tracker", NoSourceError{WebErr: seedDown}, true},
		{"nothing named", NoSourceError{}, false},
		{"the tracker answered", NoSourceError{Trackers: []TrackerStatus{knowsNone}, WebErr: seedDown}, false},
		{"the tracker has not answered yet", NoSourceError{Trackers: []TrackerStatus{trackerSilent}, WebErr: seedDown}, false},
		{"the tracker timed out", NoSourceError{Trackers: []TrackerStatus{timedOut}, WebErr: seedDown}, false},
		{"the web seed answered", NoSourceError{Trackers: []TrackerStatus{trackerDown}, WebErr: seed404}, false},
		{"the seeder answered", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}, Lacking: []netip.AddrPort{seeder}, WebErr: seedDown}, false},
		// The publisher killed mid-transfer, other clients connected with
		// what it sent them: its server is down all the same.
		{"peers connected without the missing pieces", NoSourceError{Trackers: []TrackerStatus{trackerDown}, Direct: []netip.AddrPort{seeder}, WebErr: seedDown, Connected: 2, Missing: 12, Pieces: 64}, true},
		{"a peer withholding", NoSourceError{Trackers: []TrackerStatus{trackerDown}, WebErr: seedDown, Connected: 1, Withholding: []Withholder{{Peer: seeder, All: true, Choked: true, For: 20 * time.Second}}}, false},
	} {
		tc.err.Torrent = "pkg-1.0.0.tar.zst"
		if got := errors.Is(fmt.Errorf("download: %w", &tc.err), ErrUnreachable); got != tc.want {
			t.Errorf("%s: errors.Is(ErrUnreachable) = %v, want %v (%v)", tc.name, got, tc.want, &tc.err)
		}
	}
}

// TestLacking: a seeder counts as lacking the torrent when its last
// connection completed the handshake and said nothing more, and no seeder
// sent any of it.
func TestLacking(t *testing.T) {
	a, b := netip.MustParseAddrPort("127.0.0.1:6881"), netip.MustParseAddrPort("127.0.0.2:6881")
	s := &transferState{seeders: []netip.AddrPort{a, b}}
	if got := s.lacking(); got != nil {
		t.Fatalf("nothing heard: lacking %v", got)
	}
	s.heardFrom(a, false)
	s.heardFrom(netip.MustParseAddrPort("127.0.0.3:1"), false) // not a seeder
	if got := s.lacking(); !slices.Equal(got, []netip.AddrPort{a}) {
		t.Fatalf("a handshake and nothing more: lacking %v, want %v", got, a)
	}
	s.heardFrom(a, true)
	if got := s.lacking(); got != nil {
		t.Fatalf("the seeder spoke after its handshake: lacking %v", got)
	}
	s.heardFrom(a, false) // a later connection said nothing
	s.seeder.Add(16 << 10)
	if got := s.lacking(); got != nil {
		t.Fatalf("a seeder sent payload: lacking %v", got)
	}
}

// TestNoSourceSeederWithoutArchive: real engines on 127.0.0.1. A seeder
// that is up but does not hold the torrent (the publisher removed the
// package after the client's sync) answers the handshake and closes; the
// download's error says it is reachable without the archive, not that it
// refused. A port nobody listens on still reads as a refusal, and so does
// a seeder that holds no torrent at all: the library closes every
// connection before the handshake then ("don't want conns right now").
func TestNoSourceSeederWithoutArchive(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srcDir := t.TempDir()
	gone := filepath.Join(srcDir, "gone-1.0.0.tar.zst")
	writeRandom(t, gone, 64<<10)
	meta, err := torrentmeta.Build(gone, "", "")
	if err != nil {
		t.Fatal(err)
	}
	// A seeder of another package only.
	busyDir := t.TempDir()
	busy := newEngine(t, busyDir, 0)
	seedRandom(t, ctx, busy, busyDir, "kept-1.0.0.tar.zst", 64<<10+1)
	empty := newEngine(t, t.TempDir(), 0)
	closed := netip.MustParseAddrPort(nettest.Refused(t))

	for _, tc := range []struct {
		name    string
		at      netip.AddrPort
		lacking bool
	}{
		{"seeder without the archive", loopback(busy), true},
		{"nobody listening", closed, false},
		{"seeder holding nothing", loopback(empty), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: 4 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			err = leecher.Download(ctx, meta.Torrent, []netip.AddrPort{tc.at}, nil)
			var ns *NoSourceError
			if !errors.As(err, &ns) {
				t.Fatalf("download: %v, want no source", err)
			}
			var want []netip.AddrPort
			if tc.lacking {
				want = []netip.AddrPort{tc.at}
			}
			if !slices.Equal(ns.Lacking, want) {
				t.Errorf("lacking %v, want %v: %v", ns.Lacking, want, err)
			}
			// No tracker here: the seeder's closing alone cannot tell a
			// missing archive from full slots (TestNoSourceWording).
			reachable := fmt.Sprintf("(%s) answered but closed the connection", tc.at)
			refused := fmt.Sprintf("(%s) did not accept a connection", tc.at)
			if got := err.Error(); tc.lacking != strings.Contains(got, reachable) || tc.lacking == strings.Contains(got, refused) {
				t.Errorf("message %q", got)
			}
		})
	}
}

// TestNoSourceSlowRefusal: a download whose only source is a web seed that
// fails every request, answering after 300 ms, ends with a NoSourceError
// naming the seed's answer within GiveUpAfter of its first failure, as
// one answering at once does. Each attempt was seen running at a tick and
// counted as a source, one every WebSeedAfter: the download never ended
// on its own, and dist-client's stall timeout ended it after two minutes
// with "no data received for 2m0s from any peer or web seed".
func TestNoSourceSlowRefusal(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, 100<<10)
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
	}{
		{"404", func(w http.ResponseWriter) { http.NotFound(w, nil) }, "HTTP 404 Not Found"},
		{"503 without Retry-After", func(w http.ResponseWriter) { http.Error(w, "busy", http.StatusServiceUnavailable) }, "HTTP 503 Service Unavailable"},
		{"a body shorter than its length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(data)-1, len(data)))
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(data[:100])
		}, "piece 0: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				asked.Add(1)
				time.Sleep(300 * time.Millisecond)
				tc.answer(w)
			}))
			defer srv.Close()
			meta, err := torrentmeta.Build(path, "", srv.URL+"/packages/")
			if err != nil {
				t.Fatal(err)
			}
			const giveUp = time.Second
			leecher, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.0.1:0", DisableTrackers: true,
				WebSeedAfter: 100 * time.Millisecond, GiveUpAfter: giveUp})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err = leecher.Download(ctx, meta.Torrent, nil, nil)
			took := time.Since(start)
			var ns *NoSourceError
			if !errors.As(err, &ns) {
				t.Fatalf("after %v and %d requests: %v, want a NoSourceError", took.Round(time.Millisecond), asked.Load(), err)
			}
			// strandedAfter, the first answer, then giveUp.
			if limit := strandedAfter + time.Second + giveUp + 3*time.Second; took > limit {
				t.Errorf("gave up after %v, want within %v", took.Round(time.Millisecond), limit)
			}
			if want := fmt.Sprintf("web seed %s/packages/pkg-1.0.0.tar.zst: %s", srv.URL, tc.want); !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%s\nwant it to hold %q", err, want)
			}
		})
	}
}
