package tracker

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"testing"
	"time"

	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

// MaxPeersPerIP counts an IPv6 /64 as one address: a host holds a whole
// /64, and an attacker's run could fill a swarm's 1,000 slots from one,
// address by address.
func TestPeersPerIPv6Prefix(t *testing.T) {
	tr := New(Options{MaxPeersPerIP: 2})
	h := tr.Handler()
	ih := infoHash(1)
	send := func(remote string) {
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(7001))
		q.Set("port", "7001")
		q.Set("left", "1")
		req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
		req.RemoteAddr = remote
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for i := 1; i <= 5; i++ {
		send(fmt.Sprintf("[2001:db8:0:1::%x]:50000", i)) // one /64
	}
	send("[2001:db8:0:2::1]:50000") // another
	send("127.0.0.1:50000")
	got := tr.Peers(ih)
	from := map[string]int{}
	for _, p := range got {
		a := p.Addr()
		if a.Is6() {
			pfx, _ := a.Prefix(64)
			from[pfx.String()]++
		} else {
			from[a.String()]++
		}
	}
	if from["2001:db8:0:1::/64"] != 2 || from["2001:db8:0:2::/64"] != 1 || from["127.0.0.1"] != 1 {
		t.Fatalf("peers %v: by /64 %v; want 2 of the first /64, 1 of the second and the IPv4 one", got, from)
	}
}

// TestCrowdedNetworkGivesWay: a full swarm makes room in the network that
// holds the most peers. Real peers from networks of their own announced
// first (so they are the stalest); fakes from one network (one address each,
// under MaxPeersPerIP) then announce again and again. Before, each fake
// evicted the swarm's stalest peer, and the real peers were gone after the
// first few fakes.
func TestCrowdedNetworkGivesWay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		real  []string
		fakes func(i int) string
	}{
		{"IPv4, fakes from one /24",
			[]string{"198.51.100.7", "203.0.113.9", "192.0.2.200", "100.64.1.1"},
			func(i int) string { return fmt.Sprintf("10.9.8.%d", 1+i%250) }},
		{"IPv6, fakes from one /48, a /64 each",
			[]string{"2001:db8:1::1", "2001:db8:2::1", "2001:db8:3::1", "2001:db8:4::1"},
			func(i int) string { return fmt.Sprintf("2001:db8:ff:%x::1", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			tr := New(Options{MaxPeersPerTorrent: 10, Now: clock.Now})
			ctx := context.Background()
			ih := infoHash(1)
			tr.AddPeer(ih, loopback(6881), true)
			send := func(addr string, port uint16) {
				t.Helper()
				ap := netip.AddrPortFrom(netip.MustParseAddr(addr), port)
				if err := tr.TrackAnnounce(ctx, anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: port, Left: 1}, ap); err != nil {
					t.Fatalf("announce from %v: %v", ap, err)
				}
			}
			for _, a := range tc.real {
				send(a, 6881)
			}
			for i := range 500 {
				clock.Advance(100 * time.Millisecond)
				send(tc.fakes(i), 7000)
			}
			got := tr.Peers(ih)
			if len(got) != 10 {
				t.Fatalf("%d peers tracked, want 10: %v", len(got), got)
			}
			for _, a := range tc.real {
				if !slices.Contains(got, netip.AddrPortFrom(netip.MustParseAddr(a), 6881)) {
					t.Errorf("real peer %s was pushed out by 500 fake announces from one network: %v", a, got)
				}
			}
			if !slices.Contains(got, loopback(6881)) {
				t.Error("the pinned seeder was pushed out")
			}
		})
	}

	// A review's attack on the first version, which always made room in
	// the largest network: fakes in many small networks, then real clients
	// in one /24 (the largest network, below the share), then more fakes:
	// the real clients stay, the stalest fakes give way.
	t.Run("real clients in one /24 below the share keep their places", func(t *testing.T) {
		clock := newFakeClock()
		tr := New(Options{MaxPeersPerTorrent: 1000, Now: clock.Now})
		ih := infoHash(1)
		send := func(addr string) { announceFrom(t, tr, ih, addr) }
		for i := range 980 { // 245 /48s of 4 fakes each
			send(fmt.Sprintf("2001:db8:%x:%x::1", 0x100+i/4, i%4))
		}
		clock.Advance(20 * time.Second)
		var real []netip.AddrPort
		for i := range 20 {
			a := fmt.Sprintf("198.51.100.%d", 1+i)
			send(a)
			real = append(real, netip.AddrPortFrom(netip.MustParseAddr(a), 7000))
		}
		clock.Advance(time.Second)
		for i := range 30 { // new fakes, a /48 each
			send(fmt.Sprintf("2001:db8:%x::1", 0x1000+i))
		}
		got := tr.Peers(ih)
		kept := countIn(got, real)
		if kept != len(real) || len(got) != 1000 {
			t.Errorf("%d of the %d real clients kept (%d peers tracked), want all of them", kept, len(real), len(got))
		}
	})

	// A second review's attack on a share of an eighth (125 of 1,000):
	// fakes spread over nine /48s, about 110 in each, never crowded, pushed
	// out every real client by staleness.
	t.Run("fakes spread over nine /48s", func(t *testing.T) {
		clock := newFakeClock()
		tr := New(Options{MaxPeersPerTorrent: 1000, Now: clock.Now})
		ih := infoHash(1)
		send := func(addr string) { announceFrom(t, tr, ih, addr) }
		var real []netip.AddrPort
		for i := range 20 {
			a := fmt.Sprintf("198.51.%d.1", 1+i)
			send(a)
			real = append(real, netip.AddrPortFrom(netip.MustParseAddr(a), 7000))
		}
		for i := range 3000 { // a /64 each, over nine /48s
			clock.Advance(time.Millisecond)
			send(fmt.Sprintf("2001:db8:%x:%x::1", 0x200+i%9, i/9))
		}
		got := tr.Peers(ih)
		kept := countIn(got, real)
		if kept != len(real) {
			t.Errorf("%d of the %d real clients kept against fakes over nine /48s, want all of them", kept, len(real))
		}
	})

	t.Run("networks of one peer each: the stalest gives way", func(t *testing.T) {
		clock := newFakeClock()
		tr := New(Options{MaxPeersPerTorrent: 3, Now: clock.Now})
		ih := infoHash(1)
		for i, a := range []string{"198.51.100.7", "203.0.113.9", "192.0.2.200", "100.64.1.1"} {
			clock.Advance(time.Second)
			ap := netip.AddrPortFrom(netip.MustParseAddr(a), uint16(7000+i))
			if err := tr.TrackAnnounce(context.Background(), anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: ap.Port(), Left: 1}, ap); err != nil {
				t.Fatal(err)
			}
		}
		if got := tr.Peers(ih); slices.Contains(got, netip.MustParseAddrPort("198.51.100.7:7000")) || len(got) != 3 {
			t.Errorf("peers %v: want the three newest", got)
		}
	})
}

// announceFrom announces infoHash ih to tr from addr, port 7000.
func announceFrom(t *testing.T, tr *Tracker, ih [20]byte, addr string) {
	t.Helper()
	ap := netip.AddrPortFrom(netip.MustParseAddr(addr), 7000)
	if err := tr.TrackAnnounce(context.Background(), anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: 7000, Left: 1}, ap); err != nil {
		t.Fatalf("announce from %v: %v", ap, err)
	}
}

// countIn counts the addresses of want that are in got.
func countIn(got, want []netip.AddrPort) int {
	n := 0
	for _, w := range want {
		if slices.Contains(got, w) {
			n++
		}
	}
	return n
}

// BenchmarkFullSwarmAnnounce: an announce from a newcomer to a full swarm of
// 1,000 peers, which makes room (evictCrowded). 5.0 µs when the stalest peer
// gave way, 5.9 µs with the crowded network's (67 µs with a map lookup per
// peer, before netCount).
func BenchmarkFullSwarmAnnounce(b *testing.B) {
	tr := New(Options{})
	ih := infoHash(1)
	ctx := context.Background()
	for i := range 1000 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), 7000)
		tr.TrackAnnounce(ctx, anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: 7000, Left: 1}, ap)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), 7000)
		tr.TrackAnnounce(ctx, anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: 7000, Left: 1}, ap)
	}
}
