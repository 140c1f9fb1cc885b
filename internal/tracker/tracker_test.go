package tracker

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func infoHash(b byte) [20]byte {
	var ih [20]byte
	for i := range ih {
		ih[i] = b
	}
	ih[0] = 0xff // make sure raw bytes need escaping
	return ih
}

func peerID(port uint16) string {
	return fmt.Sprintf("-DP0001-%012d", port)
}

func loopback(port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
}

// announceResponse is the BEP 3 / BEP 23 reply, decoded by hand.
type announceResponse struct {
	FailureReason string `bencode:"failure reason"`
	Interval      int    `bencode:"interval"`
	MinInterval   int    `bencode:"min interval"`
	Complete      int    `bencode:"complete"`
	Incomplete    int    `bencode:"incomplete"`
	Peers         string `bencode:"peers"`
}

func (r announceResponse) ports(t *testing.T) []uint16 {
	t.Helper()
	if len(r.Peers)%6 != 0 {
		t.Fatalf("compact peers of %d bytes, not a multiple of 6", len(r.Peers))
	}
	var ports []uint16
	for i := 0; i < len(r.Peers); i += 6 {
		p := []byte(r.Peers[i : i+6])
		if ip := netip.AddrFrom4([4]byte(p[:4])); ip != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("peer IP %v, want 127.0.0.1", ip)
		}
		ports = append(ports, uint16(p[4])<<8|uint16(p[5]))
	}
	slices.Sort(ports)
	return ports
}

type announceParams struct {
	ih      [20]byte
	port    uint16
	event   string
	left    int64
	numWant int // 0: not sent
}

func announce(t testing.TB, base string, p announceParams) announceResponse {
	t.Helper()
	q := url.Values{}
	q.Set("info_hash", string(p.ih[:]))
	q.Set("peer_id", peerID(p.port))
	q.Set("port", strconv.Itoa(int(p.port)))
	q.Set("uploaded", "0")
	q.Set("downloaded", "0")
	q.Set("left", strconv.FormatInt(p.left, 10))
	q.Set("compact", "1")
	if p.event != "" {
		q.Set("event", p.event)
	}
	if p.numWant != 0 {
		q.Set("numwant", strconv.Itoa(p.numWant))
	}
	resp, err := http.Get(base + "/announce?" + q.Encode())
	if err != nil {
		t.Fatalf("announce: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("announce: read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("announce: %s: %q", resp.Status, body)
	}
	var out announceResponse
	if err := bencode.Unmarshal(body, &out); err != nil {
		t.Fatalf("announce: decode %q: %v", body, err)
	}
	return out
}

// step is one action in a scenario: advance the clock, register a pinned
// peer, or (by default) announce and check the reply.
type step struct {
	advance time.Duration
	addPeer uint16 // AddPeer(127.0.0.1:addPeer, seeder)

	ih      byte // info hash selector; 0 means 1
	port    uint16
	event   string
	left    int64
	numWant int

	wantPeers   []uint16 // ports, compared as a set
	wantCount   int      // when > 0, check only the number of peers
	wantFailure string   // substring of the failure reason
	checkCounts bool     // compare complete/incomplete with wantSeeds/wantLeechs
	wantSeeds   int
	wantLeechs  int
}

func TestAnnounceScenarios(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		steps   []step
		tracked []uint16 // Peers(infoHash(1)) at the end
	}{
		{
			name: "second peer sees the first and not itself",
			steps: []step{
				{port: 7001, event: "started", left: 100, wantPeers: nil},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
				{port: 7001, left: 50, wantPeers: []uint16{7002}, checkCounts: true, wantSeeds: 0, wantLeechs: 2},
			},
			tracked: []uint16{7001, 7002},
		},
		{
			name: "stopped removes the peer",
			steps: []step{
				{port: 7001, event: "started", left: 100},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
				{port: 7001, event: "stopped", left: 100, wantPeers: []uint16{7002}},
				{port: 7002, left: 100, wantPeers: nil, checkCounts: true, wantSeeds: 0, wantLeechs: 1},
			},
			tracked: []uint16{7002},
		},
		{
			name: "completed and left=0 make seeders",
			steps: []step{
				{port: 7001, event: "started", left: 0},
				{port: 7002, event: "started", left: 10, wantPeers: []uint16{7001}},
				{port: 7002, event: "completed", left: 5, wantPeers: []uint16{7001}, checkCounts: true, wantSeeds: 2, wantLeechs: 0},
				{port: 7003, event: "started", left: 10, wantPeers: []uint16{7001, 7002}, checkCounts: true, wantSeeds: 2, wantLeechs: 1},
			},
			tracked: []uint16{7001, 7002, 7003},
		},
		{
			name: "stale peers expire on access",
			opts: Options{Interval: 30 * time.Second}, // PeerTTL 90s
			steps: []step{
				{port: 7001, event: "started", left: 100},
				{advance: 60 * time.Second},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
				{advance: 40 * time.Second},
				{port: 7003, event: "started", left: 100, wantPeers: []uint16{7002}},
			},
			tracked: []uint16{7002, 7003},
		},
		{
			name: "re-announcing keeps a peer alive",
			opts: Options{PeerTTL: 10 * time.Second},
			steps: []step{
				{port: 7001, event: "started", left: 100},
				{advance: 8 * time.Second},
				{port: 7001, left: 100},
				{advance: 8 * time.Second},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
			},
			tracked: []uint16{7001, 7002},
		},
		{
			name: "a full swarm evicts its stalest peer",
			opts: Options{MaxPeersPerTorrent: 2},
			steps: []step{
				{port: 7001, event: "started", left: 100},
				{advance: time.Second},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
				{advance: time.Second},
				{port: 7001, left: 100, wantPeers: []uint16{7002}}, // 7001 is now fresher than 7002
				{advance: time.Second},
				{port: 7003, event: "started", left: 100, wantPeers: []uint16{7001}},
			},
			tracked: []uint16{7001, 7003},
		},
		{
			name: "MaxTorrents refuses new torrents with a failure reason",
			opts: Options{MaxTorrents: 1},
			steps: []step{
				{ih: 1, port: 7001, event: "started", left: 100},
				{ih: 2, port: 7001, event: "started", left: 100, wantFailure: "too many torrents"},
				{ih: 1, port: 7002, event: "started", left: 100, wantPeers: []uint16{7001}},
			},
			tracked: []uint16{7001, 7002},
		},
		{
			name: "MaxTorrents frees a slot once the torrent is empty",
			opts: Options{MaxTorrents: 1},
			steps: []step{
				{ih: 1, port: 7001, event: "started", left: 100},
				{ih: 1, port: 7001, event: "stopped", left: 100},
				{ih: 2, port: 7001, event: "started", left: 100},
			},
		},
		{
			name: "AddPeer'd seeder is returned and never expires",
			opts: Options{PeerTTL: time.Minute},
			steps: []step{
				{addPeer: 6881},
				{advance: 24 * time.Hour},
				{port: 7001, event: "started", left: 100, wantPeers: []uint16{6881}, checkCounts: true, wantSeeds: 1, wantLeechs: 1},
				{advance: 2 * time.Minute},
				{port: 7002, event: "started", left: 100, wantPeers: []uint16{6881}},
			},
			tracked: []uint16{6881, 7002},
		},
		{
			name: "a full swarm of pinned peers refuses newcomers",
			opts: Options{MaxPeersPerTorrent: 1},
			steps: []step{
				{addPeer: 6881},
				{port: 7001, event: "started", left: 100, wantFailure: "swarm is full"},
			},
			tracked: []uint16{6881},
		},
		{
			name: "numwant limits the reply, default 50",
			opts: Options{MaxPeersPerIP: -1},
			steps: append(announceMany(60),
				step{port: 8000, left: 1, numWant: 3, wantCount: 3},
				step{port: 8000, left: 1, wantCount: DefaultNumWant},
				step{port: 8000, left: 1, numWant: 1000, wantCount: 60},
			),
		},
		{
			name: "one address holds at most MaxPeersPerIP peers of a swarm",
			opts: Options{MaxPeersPerIP: 2},
			steps: []step{
				{port: 7001, event: "started", left: 100},
				{advance: time.Second},
				{port: 7002, event: "started", left: 100, wantCount: -1},
				{advance: time.Second},
				{port: 7003, event: "started", left: 100, wantPeers: []uint16{7002}}, // 7001 was the address's stalest
				{port: 7004, event: "started", left: 100, wantPeers: []uint16{7003}},
			},
			tracked: []uint16{7003, 7004},
		},
		{
			name: "announces from the pinned seeder's address cannot stop or change it",
			steps: []step{
				{addPeer: 6881},
				{port: 6881, event: "stopped", left: 100},
				{port: 6881, left: 100},
				{port: 7001, event: "started", left: 100, wantPeers: []uint16{6881}, checkCounts: true, wantSeeds: 1, wantLeechs: 1},
			},
			tracked: []uint16{6881, 7001},
		},
		{
			name: "the pinned seeder leads every reply, however many announced",
			opts: Options{MaxPeersPerIP: -1},
			steps: append(append([]step{{addPeer: 6881}}, announceFakes(300)...),
				step{port: 8000, left: 1, numWant: 1, wantPeers: []uint16{6881}},
				step{port: 8001, left: 1, numWant: 5, wantCount: 5},
			),
		},
		{
			name: "a whitelist refuses foreign torrents",
			opts: Options{Allowed: func(ih [20]byte) bool { return ih == infoHash(1) }},
			steps: []step{
				{ih: 2, port: 7001, event: "started", left: 100, wantFailure: "not served by this tracker"},
				{ih: 1, port: 7001, event: "started", left: 100},
				{ih: 2, port: 7001, event: "stopped", left: 100, wantFailure: "not served by this tracker"},
			},
			tracked: []uint16{7001},
		},
		{
			name: "port 0 is refused",
			steps: []step{
				{port: 0, event: "started", left: 100, wantFailure: "no port"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			tc.opts.Now = clock.Now
			tr := New(tc.opts)
			srv := httptest.NewServer(tr.Handler())
			defer srv.Close()
			for i, s := range tc.steps {
				switch {
				case s.advance != 0:
					clock.Advance(s.advance)
					continue
				case s.addPeer != 0:
					tr.AddPeer(infoHash(1), loopback(s.addPeer), true)
					continue
				}
				ih := s.ih
				if ih == 0 {
					ih = 1
				}
				r := announce(t, srv.URL, announceParams{ih: infoHash(ih), port: s.port, event: s.event, left: s.left, numWant: s.numWant})
				if s.wantFailure != "" {
					if !strings.Contains(r.FailureReason, s.wantFailure) {
						t.Fatalf("step %d: failure reason %q, want it to contain %q", i, r.FailureReason, s.wantFailure)
					}
					continue
				}
				if r.FailureReason != "" {
					t.Fatalf("step %d: unexpected failure reason %q", i, r.FailureReason)
				}
				if r.Interval <= 0 {
					t.Errorf("step %d: interval %d", i, r.Interval)
				}
				got := r.ports(t)
				if s.wantCount < 0 {
					continue
				} else if s.wantCount > 0 {
					if len(got) != s.wantCount {
						t.Errorf("step %d: got %d peers, want %d", i, len(got), s.wantCount)
					}
				} else if !slices.Equal(got, s.wantPeers) {
					t.Errorf("step %d: peers %v, want %v", i, got, s.wantPeers)
				}
				if s.checkCounts && (r.Complete != s.wantSeeds || r.Incomplete != s.wantLeechs) {
					t.Errorf("step %d: complete/incomplete %d/%d, want %d/%d", i, r.Complete, r.Incomplete, s.wantSeeds, s.wantLeechs)
				}
			}
			if tc.tracked != nil {
				var got []uint16
				for _, ap := range tr.Peers(infoHash(1)) {
					got = append(got, ap.Port())
				}
				if !slices.Equal(got, tc.tracked) {
					t.Errorf("Peers() = %v, want %v", got, tc.tracked)
				}
			}
		})
	}
}

// announceFakes announces n peers without checking what they are told.
func announceFakes(n int) []step {
	var steps []step
	for i := range n {
		steps = append(steps, step{port: uint16(20000 + i), event: "started", left: 1, wantCount: -1})
	}
	return steps
}

func announceMany(n int) []step {
	var steps []step
	for i := range n {
		// The first sees nobody: wantCount 0 compares with a nil wantPeers.
		steps = append(steps, step{port: uint16(9000 + i), event: "started", left: 1, wantCount: min(i, DefaultNumWant)})
	}
	return steps
}
