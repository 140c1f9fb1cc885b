package tracker

import (
	"bytes"
	"context"
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	anacrolixTracker "github.com/anacrolix/torrent/tracker"
	trackerServer "github.com/anacrolix/torrent/tracker/server"
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

// TestAnacrolixClient announces with anacrolix's own tracker client, as the
// swarm's clients will.
func TestAnacrolixClient(t *testing.T) {
	tr := New(Options{MaxTorrents: 1})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	ih := infoHash(1)
	tr.AddPeer(ih, loopback(6881), true)

	do := func(ih [20]byte, port uint16, left int64) (anacrolixTracker.AnnounceResponse, error) {
		var id [20]byte
		copy(id[:], peerID(port))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return anacrolixTracker.Announce{
			TrackerUrl: srv.URL + "/announce",
			Context:    ctx,
			Request: anacrolixTracker.AnnounceRequest{
				InfoHash: ih,
				PeerId:   id,
				Port:     port,
				Left:     left,
				Event:    anacrolixTracker.Started,
				NumWant:  -1,
			},
		}.Do()
	}
	tests := []struct {
		name      string
		ih        [20]byte
		port      uint16
		left      int64
		wantPorts []uint16
		wantErr   string
	}{
		{"first leecher sees the seeder", ih, 7001, -1, []uint16{6881}, ""},
		{"second leecher sees both", ih, 7002, 1 << 20, []uint16{6881, 7001}, ""},
		{"refusal is a failure reason", infoHash(2), 7001, -1, nil, "too many torrents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := do(tc.ih, tc.port, tc.left)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ports []uint16
			for _, p := range res.Peers {
				if !p.IP.Equal([]byte{127, 0, 0, 1}) {
					t.Errorf("peer IP %v", p.IP)
				}
				ports = append(ports, uint16(p.Port))
			}
			slices.Sort(ports)
			if !slices.Equal(ports, tc.wantPorts) {
				t.Errorf("peers %v, want %v", ports, tc.wantPorts)
			}
			if res.Interval != int32(DefaultInterval/time.Second) {
				t.Errorf("interval %d, want %d", res.Interval, DefaultInterval/time.Second)
			}
		})
	}
}

func TestScrape(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7001, event: "started", left: 10})
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7002, event: "started", left: 10})
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7002, event: "completed", left: 0})
	tr.AddPeer(infoHash(2), loopback(6881), true)

	type counts struct {
		Complete   int `bencode:"complete"`
		Downloaded int `bencode:"downloaded"`
		Incomplete int `bencode:"incomplete"`
	}
	many := make([]byte, MaxScrapeHashes+1)
	for i := range many {
		many[i] = byte(i + 1)
	}
	tests := []struct {
		name    string
		query   []byte // info hashes, 0 = scrape all
		files   int    // in the reply
		want    map[byte]counts
		failure string // the failure reason wanted, instead of files
	}{
		{"one torrent", []byte{1}, 1, map[byte]counts{1: {1, 1, 1}}, ""},
		{"two torrents and an unknown one", []byte{1, 2, 3}, 3, map[byte]counts{1: {1, 1, 1}, 2: {1, 0, 0}, 3: {}}, ""},
		{"the most info hashes", many[:MaxScrapeHashes], MaxScrapeHashes, map[byte]counts{1: {1, 1, 1}, 2: {1, 0, 0}, 64: {}}, ""},
		{"one info hash too many", many, 0, nil, "scrape of 65 info_hash values: at most 64 a request"},
		{"full scrape", nil, 0, nil, "full scrape is not served"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for _, b := range tc.query {
				ih := infoHash(b)
				q.Add("info_hash", string(ih[:]))
			}
			resp, err := http.Get(srv.URL + "/scrape?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Files   map[string]counts `bencode:"files"`
				Failure string            `bencode:"failure reason"`
			}
			body, _ := io.ReadAll(resp.Body)
			if err := bencode.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %q: %v", resp.Status, body, err)
			}
			if tc.failure != "" {
				if !strings.Contains(got.Failure, tc.failure) || got.Files != nil {
					t.Fatalf("reply %.200q, want only a failure reason with %q", body, tc.failure)
				}
				return
			}
			if got.Failure != "" {
				t.Fatalf("failure reason %q", got.Failure)
			}
			if len(got.Files) != tc.files {
				t.Errorf("%d files, want %d", len(got.Files), tc.files)
			}
			for b, want := range tc.want {
				ih := infoHash(b)
				if c := got.Files[string(ih[:])]; c != want {
					t.Errorf("torrent %d: %+v, want %+v", b, c, want)
				}
			}
		})
	}
}

// TestFullScrapeRefused: a scrape without info_hash answered with every
// torrent tracked, a reply that grows with the tracker and costs the asker
// one short request. It is refused now; its size is logged.
func TestFullScrapeRefused(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	for i := range 1548 { // the torrents of the attacker's run
		var ih [20]byte
		ih[0], ih[1] = byte(i>>8), byte(i)
		tr.AddPeer(ih, loopback(6881), true)
	}
	req := "GET /scrape HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\nConnection: close\r\n\r\n"
	resp, err := http.Get(srv.URL + "/scrape")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("figure: full scrape of 1548 torrents: a %d-byte request, a %d-byte reply body", len(req), len(body))
	var got map[string]any
	if err := bencode.Unmarshal(body, &got); err != nil || len(got) != 1 || got["failure reason"] == nil {
		t.Fatalf("full scrape answered %d bytes (%.100q), want only a failure reason", len(body), body)
	}
}

// TestScrapeBadInfoHashCut: a malformed info_hash was quoted whole into
// the failure reason, up to four bytes of reply for one of request.
func TestScrapeBadInfoHashCut(t *testing.T) {
	srv := httptest.NewServer(New(Options{}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/scrape?info_hash=" + strings.Repeat("%FF", 4000))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte("is not 20 bytes")) || len(body) > 200 {
		t.Fatalf("reply of %d bytes (%.100q), want a short failure reason", len(body), body)
	}
}

func TestRouting(t *testing.T) {
	srv := httptest.NewServer(New(Options{}).Handler())
	defer srv.Close()
	tests := []struct {
		method, path string
		want         int
	}{
		{"GET", "/", http.StatusNotFound},
		{"GET", "/announce/x", http.StatusNotFound},
		{"GET", "/metrics", http.StatusNotFound},
		{"POST", "/announce", http.StatusMethodNotAllowed},
		{"GET", "/announce?info_hash=short", http.StatusOK}, // a bencoded failure reason
		{"GET", "/scrape", http.StatusOK},                   // a bencoded failure reason
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestMappedAddress: a dual-stack listener reports IPv4 clients as
// ::ffff:a.b.c.d; they must be one identity with plain IPv4 and be listed in
// the compact IPv4 peers.
func TestMappedAddress(t *testing.T) {
	tr := New(Options{})
	h := tr.Handler()
	ih := infoHash(1)
	send := func(remote string, port uint16) announceResponse {
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(port))
		q.Set("port", strconv.Itoa(int(port)))
		q.Set("left", "1")
		req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r announceResponse
		if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("decode %q: %v", rec.Body.Bytes(), err)
		}
		return r
	}
	send("[::ffff:127.0.0.1]:50000", 7001)
	if r := send("127.0.0.1:50001", 7002); !slices.Equal(r.ports(t), []uint16{7001}) {
		t.Errorf("peers %v, want [7001]", r.ports(t))
	}
	if r := send("127.0.0.1:50002", 7001); !slices.Equal(r.ports(t), []uint16{7002}) {
		t.Errorf("re-announce as plain IPv4: peers %v, want [7002]", r.ports(t))
	}
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{loopback(7001), loopback(7002)}) {
		t.Errorf("Peers() = %v", got)
	}
}

func TestSweepAndStats(t *testing.T) {
	clock := newFakeClock()
	tr := New(Options{PeerTTL: time.Minute, Now: clock.Now})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	tr.AddPeer(infoHash(1), loopback(6881), true)
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7001, event: "started", left: 1})
	announce(t, srv.URL, announceParams{ih: infoHash(2), port: 7001, event: "started", left: 0})
	clock.Advance(30 * time.Second)
	announce(t, srv.URL, announceParams{ih: infoHash(3), port: 7002, event: "started", left: 1})

	tests := []struct {
		name    string
		advance time.Duration
		do      func()
		want    Stats
		hosts   int // Hosts: 7001 once though in two swarms, the pinned seeder not
	}{
		{"all live", 0, nil, Stats{Torrents: 3, Peers: 4, Seeders: 2, Leechers: 2, Announces: 3}, 2},
		{"first announces expire", 40 * time.Second, tr.Sweep, Stats{Torrents: 2, Peers: 2, Seeders: 1, Leechers: 1, Announces: 3}, 1},
		{"pinned peer outlives everyone", time.Hour, tr.Sweep, Stats{Torrents: 1, Peers: 1, Seeders: 1, Announces: 3}, 0},
		{"RemovePeer drops the pinned peer and its torrent", 0, func() { tr.RemovePeer(infoHash(1), loopback(6881)) }, Stats{Announces: 3}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock.Advance(tc.advance)
			if tc.do != nil {
				tc.do()
			}
			if got := tr.Stats(); got != tc.want {
				t.Errorf("Stats() = %+v, want %+v", got, tc.want)
			}
			if got := tr.Hosts(); got != tc.hosts {
				t.Errorf("Hosts() = %d, want %d", got, tc.hosts)
			}
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	clock := newFakeClock()
	tr := New(Options{Interval: 10 * time.Millisecond, PeerTTL: time.Second, Now: clock.Now})
	tr.AddPeer(infoHash(1), loopback(6881), true)
	if err := tr.TrackAnnounce(context.Background(), anacrolixTracker.AnnounceRequest{InfoHash: infoHash(2), Port: 7001, Left: 1}, loopback(7001)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for tr.torrentCount() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not sweep the stale torrent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (t *Tracker) torrentCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.torrents)
}

// TestDirectRefusal: without the HTTP wrapper a refusal is an error.
func TestDirectRefusal(t *testing.T) {
	tr := New(Options{MaxTorrents: 1})
	ctx := context.Background()
	tests := []struct {
		ih      byte
		port    uint16
		wantErr error
	}{
		{1, 7001, nil},
		{2, 7001, ErrTooManyTorrents},
		{1, 0, ErrNoPort},
	}
	for _, tc := range tests {
		err := tr.TrackAnnounce(ctx, anacrolixTracker.AnnounceRequest{InfoHash: infoHash(tc.ih), Port: tc.port}, loopback(tc.port))
		if err != tc.wantErr {
			t.Errorf("announce %d:%d: err %v, want %v", tc.ih, tc.port, err, tc.wantErr)
		}
	}
}

// TestConcurrent hammers the store from many goroutines for the race
// detector, with swarms small enough to evict.
func TestConcurrent(t *testing.T) {
	clock := newFakeClock()
	tr := New(Options{MaxTorrents: 4, MaxPeersPerTorrent: 8, PeerTTL: time.Second, Now: clock.Now})
	h := tr.Handler()
	var wg sync.WaitGroup
	var n atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				ih := infoHash(byte(i % 6))
				port := uint16(10000 + g*100 + i)
				q := url.Values{}
				q.Set("info_hash", string(ih[:]))
				q.Set("peer_id", peerID(port))
				q.Set("port", strconv.Itoa(int(port)))
				q.Set("left", strconv.Itoa(i%2))
				if i%7 == 0 {
					q.Set("event", "stopped")
				}
				req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if !bytes.HasPrefix(rec.Body.Bytes(), []byte("d")) {
					t.Errorf("reply %q is not a bencoded dict", rec.Body.Bytes())
				}
				switch i % 25 {
				case 0:
					clock.Advance(300 * time.Millisecond)
					tr.Sweep()
				case 1:
					tr.Stats()
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	st := tr.Stats()
	if st.Torrents > 4 || st.Peers > 4*8 || st.Announces != uint64(n.Load()) {
		t.Errorf("limits broken: %+v", st)
	}
}

// BenchmarkAnnounce measures parallel announces into a 200-peer swarm (each
// reply carries 50 compact peers): "http" over real loopback connections,
// "handler" in-process to show the cost without the network.
func BenchmarkAnnounce(b *testing.B) {
	tr := New(Options{})
	const swarmSize = 200
	for i := range swarmSize {
		tr.AddPeer(infoHash(1), loopback(uint16(20000+i)), i%4 == 0)
	}
	var next atomic.Uint32
	query := func() string {
		port := 30000 + next.Add(1)%1000
		ih := infoHash(1)
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(uint16(port)))
		q.Set("port", strconv.Itoa(int(port)))
		q.Set("left", "100")
		q.Set("compact", "1")
		return "/announce?" + q.Encode()
	}

	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(tr.Handler())
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		defer client.CloseIdleConnections()
		b.SetParallelism(4) // a tracker waits on the network more than on the CPU
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Get(srv.URL + query())
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %s", resp.Status)
					return
				}
			}
		})
	})
	b.Run("handler", func(b *testing.B) {
		h := tr.Handler()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest("GET", query(), nil)
				req.RemoteAddr = "127.0.0.1:40000"
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
					return
				}
			}
		})
	})
}

// A port that is not one is refused with a failure reason: the library
// ignored the parse error and saturated, so port=99999 was recorded as
// 65535 (an attacker's run).
func TestAnnounceBadPort(t *testing.T) {
	tr := New(Options{})
	h := tr.Handler()
	ih := infoHash(1)
	for _, tc := range []struct {
		port, wantFailure string
	}{
		{"99999", `port "99999" is not a port number`},
		{"-1", `port "-1" is not a port number`},
		{"0x1f90", `port "0x1f90" is not a port number`},
		{"010", `port "010" is not a port number`},   // the library read it as octal: 8
		{"0080", `port "0080" is not a port number`}, // and this as no port
		{"6881", ""},
	} {
		q := url.Values{}
		q.Set("info_hash", string(ih[:]))
		q.Set("peer_id", peerID(1))
		q.Set("port", tc.port)
		q.Set("left", "1")
		req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
		req.RemoteAddr = "127.0.0.1:50000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var r announceResponse
		if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
			t.Fatalf("port %s: decode %q: %v", tc.port, rec.Body.Bytes(), err)
		}
		if !strings.Contains(r.FailureReason, tc.wantFailure) || (tc.wantFailure == "") != (r.FailureReason == "") {
			t.Errorf("port %s: failure %q, want %q", tc.port, r.FailureReason, tc.wantFailure)
		}
	}
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{loopback(6881)}) {
		t.Errorf("Peers() = %v, want only the good port", got)
	}
}

// A request the library refuses as malformed is answered with a failure
// reason, as every other refusal: it answered HTTP 400 with a line of plain
// text (an attacker's run).
func TestAnnounceMalformedIsAFailureReason(t *testing.T) {
	h := New(Options{}).Handler()
	ih := infoHash(1)
	for _, tc := range []struct {
		name        string
		set         func(q url.Values)
		wantFailure string
	}{
		{"short info_hash", func(q url.Values) { q.Set("info_hash", "short") }, "info_hash has wrong length"},
		{"long peer_id", func(q url.Values) { q.Set("peer_id", strings.Repeat("p", 21)) }, "peer_id has wrong length"},
		{"unknown event", func(q url.Values) { q.Set("event", "paused") }, "unknown event"},
		{"well formed", func(url.Values) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			q.Set("info_hash", string(ih[:]))
			q.Set("peer_id", peerID(1))
			q.Set("port", "6881")
			q.Set("left", "1")
			tc.set(q)
			req := httptest.NewRequest("GET", "/announce?"+q.Encode(), nil)
			req.RemoteAddr = "127.0.0.1:50000"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var r announceResponse
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d (%q), want 200", rec.Code, rec.Body.Bytes())
			}
			if err := bencode.Unmarshal(rec.Body.Bytes(), &r); err != nil {
				t.Fatalf("decode %q: %v", rec.Body.Bytes(), err)
			}
			if !strings.Contains(r.FailureReason, tc.wantFailure) || (tc.wantFailure == "") != (r.FailureReason == "") {
				t.Errorf("failure %q, want %q", r.FailureReason, tc.wantFailure)
			}
		})
	}
}

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
