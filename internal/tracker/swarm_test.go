package tracker

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

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
