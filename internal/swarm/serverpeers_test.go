package swarm

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestPeerSources: a download tells the publisher's seeder (the catalog's
// address), another server's seeder (a dist-server name at a host of
// server_urls, both) and other peers apart. The name is the peer's word:
// said at another host, or by the catalog's seeder, it changes nothing.
func TestPeerSources(t *testing.T) {
	publisher := netip.MustParseAddrPort("198.18.0.1:6881")
	servers := &serverHosts{}
	servers.addrs.Store(&[]netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")})
	for _, c := range []struct {
		name   string
		remote string
		v      string
		want   peerSource
	}{
		{"the publisher's seeder", "198.18.0.1:6881", "distpac-server reqq=4 rate=174762", fromPublisher},
		{"the publisher's seeder, unnamed", "198.18.0.1:6881", "", fromPublisher},
		{"a mirror", "198.18.0.2:7000", "distpac-server", fromMirror},
		{"a capped mirror", "198.18.0.2:7000", "distpac-server reqq=4 rate=174762", fromMirror},
		{"a mirror on the publisher's host", "198.18.0.1:7000", "distpac-server", fromMirror},
		{"a client on a server's host", "198.18.0.2:7001", "go.torrent dev 20250101", fromPeer},
		{"no name on a server's host", "198.18.0.2:7001", "", fromPeer},
		{"a look-alike name", "198.18.0.2:7001", "distpac-serverX", fromPeer},
		{"the name at another host", "198.18.0.9:7000", "distpac-server", fromPeer},
		{"a capped publisher's name at another host", "198.18.0.9:7000", "distpac-server reqq=4 rate=174762", fromPeer},
	} {
		s := &transferState{seeders: []netip.AddrPort{publisher}, servers: servers}
		if got := s.source(netip.MustParseAddrPort(c.remote), 0, c.v); got != c.want {
			t.Errorf("%s: source(%s, %q) = %d, want %d", c.name, c.remote, c.v, got, c.want)
		}
	}
	// An engine with no servers has no mirrors.
	s := &transferState{seeders: []netip.AddrPort{publisher}}
	if got := s.source(netip.MustParseAddrPort("198.18.0.2:7000"), 0, "distpac-server"); got != fromPeer {
		t.Errorf("without servers: a server-named peer is %d, want another peer", got)
	}
}

// TestServerHostsSet: the hosts of the servers' URLs, addresses at once
// and names once looked up, the same URL twice counted once.
func TestServerHostsSet(t *testing.T) {
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || !slices.ContainsFunc(ips, func(a netip.Addr) bool { return a.Unmap() == netip.MustParseAddr("127.0.0.1") }) {
		t.Skipf("localhost does not resolve to 127.0.0.1 here (%v, %v)", ips, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	var h serverHosts
	h.set(MirrorSeeds([]string{"http://198.18.0.2:9090", "http://[2001:db8::1]:9090/", "http://198.18.0.2:9091", "not a url\x7f"}), stop)
	for _, a := range []string{"198.18.0.2", "2001:db8::1"} {
		if !h.has(netip.MustParseAddr(a)) {
			t.Errorf("%s: not a server's address", a)
		}
	}
	if h.has(netip.MustParseAddr("198.18.0.3")) {
		t.Error("198.18.0.3 taken for a server's address")
	}
	h.set(MirrorSeeds([]string{"http://localhost:9090"}), stop)
	if h.has(netip.MustParseAddr("198.18.0.2")) {
		t.Error("a server no longer listed is still one")
	}
	deadline := time.Now().Add(resolveTimeout)
	for !h.has(netip.MustParseAddr("127.0.0.1")) {
		if time.Now().After(deadline) {
			t.Fatal("localhost's address never became a server's")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMirrorSeederReported: a download's report counts a dist-server
// seeder at a host of the client's server_urls as a mirror, found through
// the tracker like any peer. Before, nothing told it from other peers
// ("from 1 other peer"). The attack: a seeder that names itself a
// dist-server seeder at a host that is not a server's is another peer.
func TestMirrorSeederReported(t *testing.T) {
	const size = 256 << 10
	for _, c := range []struct {
		name    string
		seed    Config // the seeder's (Dir and trackers set here)
		servers []string
		mirror  bool
	}{
		{"a mirror", Config{ListenAddr: "127.0.0.1:0", Server: true}, []string{"http://127.0.0.1:1"}, true},
		{"a capped mirror", Config{ListenAddr: "127.0.0.1:0", Server: true, PublisherQueue: DefaultPublisherQueue, UploadRate: 16 << 20, Mirror: true}, []string{"http://127.0.0.1:1"}, true},
		{"a mirror by its host's name", Config{ListenAddr: "127.0.0.1:0", Server: true}, []string{"http://localhost:1"}, true},
		{"a client on a server's host", Config{ListenAddr: "127.0.0.1:0"}, []string{"http://127.0.0.1:1"}, false},
		{"the name at a host not in server_urls", Config{ListenAddr: "127.0.0.3:0", Server: true}, []string{"http://127.0.0.1:1"}, false},
		{"no server_urls", Config{ListenAddr: "127.0.0.1:0", Server: true}, nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			trk, announce := startTracker(t)
			seed := c.seed
			seed.Dir, seed.DisableTrackers = t.TempDir(), true
			seeder, err := New(seed)
			if err != nil {
				t.Fatal(err)
			}
			defer seeder.Close()
			path := filepath.Join(seed.Dir, "pkg-1.0.0.tar.zst")
			writeRandom(t, path, size)
			meta, err := torrentmeta.Build(path, announce, "")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ih, err := seeder.Seed(ctx, meta.Torrent, true)
			if err != nil {
				t.Fatal(err)
			}
			trk.AddPeer(ih, seeder.Addr(), true)
			client, err := New(Config{Dir: t.TempDir(), ListenAddr: "127.0.1.1:0", MirrorWebSeeds: MirrorSeeds(c.servers)})
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			waitServers(t, client, c.servers)
			if err := client.Download(ctx, meta.Torrent, nil, nil); err != nil {
				t.Fatal(err)
			}
			r, _ := client.Transfer(ih)
			t.Logf("%+v", r)
			got := [5]int64{r.FromMirrors, int64(r.Mirrors), r.FromPeers, int64(r.Peers), r.FromSeeder + r.FromWebSeed}
			want := [5]int64{0, 0, size, 1, 0} // from mirrors, how many; from peers, how many; the rest
			if c.mirror {
				want = [5]int64{size, 1, 0, 0, 0}
			}
			if got != want {
				t.Errorf("report: from mirrors %d (%d), from other peers %d (%d), from the publisher or HTTP %d; want %v", got[0], got[1], got[2], got[3], got[4], want)
			}
		})
	}
}

// waitServers waits until e knows the addresses of the hosts of servers
// given by name (looked up in the background).
func waitServers(t *testing.T, e *Engine, servers []string) {
	t.Helper()
	for _, s := range servers {
		if s != "http://localhost:1" {
			continue
		}
		deadline := time.Now().Add(resolveTimeout)
		for !e.servers.has(netip.MustParseAddr("127.0.0.1")) {
			if time.Now().After(deadline) {
				t.Skip("localhost never resolved to 127.0.0.1")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestServerHostsReordered: the same servers in another order (a daemon
// orders server_urls for each request, one that failed a sync last) keep
// the addresses their names were looked up to, and are not looked up
// again before resolveAgain. Before, a new order dropped those addresses
// until a new lookup answered, and a mirror's bytes counted as another
// peer's meanwhile.
func TestServerHostsReordered(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	mirror := netip.MustParseAddr("198.18.0.7")
	var lookups atomic.Int32
	h := serverHosts{lookup: func(ctx context.Context, _, host string) ([]netip.Addr, error) {
		if lookups.Add(1) > 1 {
			<-ctx.Done() // a lookup again answers only once the test ends
			return nil, ctx.Err()
		}
		return []netip.Addr{mirror}, nil
	}}
	h.set([]string{"http://mirror.example:9090/packages/", "http://198.18.0.2:9090/packages/"}, stop)
	for deadline := time.Now().Add(5 * time.Second); !h.has(mirror); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the mirror's name was never looked up")
		}
	}
	h.set([]string{"http://198.18.0.2:9090/packages/", "http://mirror.example:9090/packages/"}, stop)
	if !h.has(mirror) || !h.has(netip.MustParseAddr("198.18.0.2")) {
		t.Errorf("the same servers in another order: mirror's address kept %v, the other's %v; want both kept", h.has(mirror), h.has(netip.MustParseAddr("198.18.0.2")))
	}
	time.Sleep(50 * time.Millisecond)
	if n := lookups.Load(); n != 1 {
		t.Errorf("the names looked up %d times, want once (the order changed, not the servers)", n)
	}
}
