package tracker

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	trackerServer "github.com/anacrolix/torrent/tracker/server"
)

// A completed download counts once, for a peer known as a leecher: fifty
// "completed" announces from one client took the count from 0 to 50 (an
// attacker's run), and so did completions from peers never seen.
func TestCompletedCountsOnce(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	ih := infoHash(1)
	for range 50 {
		announce(t, srv.URL, announceParams{ih: ih, port: 7001, event: "completed", left: 0}) // never a leecher
	}
	announce(t, srv.URL, announceParams{ih: ih, port: 7002, event: "started", left: 100})
	for range 50 {
		announce(t, srv.URL, announceParams{ih: ih, port: 7002, event: "completed", left: 0})
		announce(t, srv.URL, announceParams{ih: ih, port: 7002, event: "started", left: 100})
	}
	res, err := tr.Scrape(context.Background(), []trackerServer.InfoHash{ih})
	if err != nil || len(res) != 1 || res[0].Completed != 1 {
		t.Fatalf("scrape %+v, %v; want downloaded 1", res, err)
	}
}

// A host's downloads of a torrent count up to MaxPeersPerIP a day: one
// peer that looped started, completed, stopped (under the same port or a
// new one) added 5,000 downloads in 2.9 s in an attacker's run, because a
// stopped peer is forgotten and comes back as a new leecher. Other hosts
// count, and a day later the host counts again.
func TestCompletedCountsPerHostADay(t *testing.T) {
	clock := newFakeClock()
	tr := New(Options{MaxPeersPerIP: 4, Now: clock.Now})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	ih := infoHash(1)
	tr.AddPeer(ih, loopback(6881), true) // the publisher's seeder keeps the swarm
	completed := func() int32 {
		t.Helper()
		res, err := tr.Scrape(context.Background(), []trackerServer.InfoHash{ih})
		if err != nil || len(res) != 1 {
			t.Fatalf("scrape %+v, %v", res, err)
		}
		return res[0].Completed
	}
	loop := func(n int, port func(i int) uint16) {
		for i := range n {
			p := port(i)
			announce(t, srv.URL, announceParams{ih: ih, port: p, event: "started", left: 100})
			announce(t, srv.URL, announceParams{ih: ih, port: p, event: "completed", left: 0})
			announce(t, srv.URL, announceParams{ih: ih, port: p, event: "stopped", left: 0})
		}
	}
	loop(50, func(int) uint16 { return 7001 })
	loop(50, func(i int) uint16 { return uint16(8000 + i) })
	if got := completed(); got != 4 {
		t.Fatalf("100 loops from one host: downloaded %d, want 4 (MaxPeersPerIP)", got)
	}
	clock.Advance(downloadWindow)
	loop(10, func(int) uint16 { return 7001 })
	if got := completed(); got != 8 {
		t.Fatalf("a day later: downloaded %d, want 8", got)
	}
}

// TestCountDownload: countDownload's bounds. A host (an IPv6 /64 is one)
// counts perHost downloads a window, then none until the window ends; the
// record never holds more than maxHosts hosts, and a new host past that
// is recorded (another one forgotten), not counted without a record: a
// review counted a 1,001st host 5,000 times of 5,000.
func TestCountDownload(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	host := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}) }
	c := &tally{}
	counted := func(h netip.Addr, tries int, at time.Time) int {
		n := 0
		for range tries {
			if c.countDownload(hostOf(h), at, 2, 8) {
				n++
			}
		}
		return n
	}
	for i := range 20 {
		if n := counted(host(i), 5, t0); n != 2 {
			t.Fatalf("host %d: %d of 5 counted, want 2", i, n)
		}
		if len(c.hosts) > 8 {
			t.Fatalf("%d hosts recorded, want at most 8", len(c.hosts))
		}
	}
	if n := counted(host(19), 5000, t0); n != 0 {
		t.Fatalf("the newest host, again: %d of 5,000 counted, want 0", n)
	}
	a, b := netip.MustParseAddr("2001:db8:0:1::1"), netip.MustParseAddr("2001:db8:0:1::2")
	if n := counted(a, 3, t0) + counted(b, 3, t0); n != 2 {
		t.Fatalf("two addresses of one /64: %d counted, want 2", n)
	}
	if n := counted(host(19), 5, t0.Add(downloadWindow)); n != 2 {
		t.Fatalf("a window later: %d of 5 counted, want 2", n)
	}
}
