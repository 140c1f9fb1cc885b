package swarm

import (
	"context"
	"expvar"
	"math"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/distpac/distpac/internal/torrentmeta"
)

func TestParsePublisherName(t *testing.T) {
	for _, tc := range []struct {
		v     string
		queue int
		rate  int64
		ok    bool
	}{
		{"distpac-server reqq=4 rate=524288", 4, 524288, true},
		{"distpac-server reqq=4", 4, 0, true}, // a publisher that gives no rate: its depth as asked
		{"distpac-server reqq=7 rate=0", 7, 0, true},
		{"distpac-server reqq=7 rate=-5", 7, 0, true},
		{"distpac-server reqq=7 rate=lots", 7, 0, true},
		{"distpac-server reqq=7 rate=99999999999999999999", 7, 0, true},
		{"distpac-server reqq=0 rate=524288", 0, 0, false},
		{"distpac-server reqq=-1", 0, 0, false},
		{"distpac-server reqq=", 0, 0, false},
		{"distpac-server reqq=4rate=1", 0, 0, false},
		{"distpac-server reqq=99999999999999999999", 0, 0, false},
		{"distpac-server", 0, 0, false}, // an uncapped server's name asks for no queue
		{"Transmission 3.00", 0, 0, false},
		{"", 0, 0, false},
	} {
		q, r, ok := parsePublisherName(tc.v)
		if q != tc.queue || r != tc.rate || ok != tc.ok {
			t.Errorf("parsePublisherName(%q) = %d, %d, %v; want %d, %d, %v", tc.v, q, r, ok, tc.queue, tc.rate, tc.ok)
		}
	}
	// What a publisher sends, a client reads back.
	if q, r, ok := parsePublisherName(publisherName(4, 655360)); q != 4 || r != 655360 || !ok {
		t.Errorf("round trip: %d, %d, %v", q, r, ok)
	}
}

func FuzzParsePublisherName(f *testing.F) {
	for _, s := range []string{"distpac-server reqq=4 rate=524288", "distpac-server reqq=4", "distpac-server reqq=1 rate=", "µTorrent 3.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q, r, ok := parsePublisherName(v)
		if ok && q <= 0 || r < 0 {
			t.Fatalf("parsePublisherName(%q) = %d, %d, %v", v, q, r, ok)
		}
		// Whatever a peer sends, the depth a client keeps stays in bounds.
		for _, rtt := range []time.Duration{0, time.Millisecond, time.Second, time.Hour} {
			if d := publisherDepth(q, r, rtt, 4); d < DefaultPublisherQueue || d > peerQueue || d%4 != 0 {
				t.Fatalf("publisherDepth(%d, %d, %v, 4) = %d", q, r, rtt, d)
			}
		}
		m := pp.ExtendedHandshakeMessage{V: v, Reqq: 1000}
		(&requestQueues{}).onHandshake(nil, &m)
		if m.Reqq < 1 || m.Reqq > peerQueue {
			t.Fatalf("v %q: reqq %d", v, m.Reqq)
		}
	})
}

func TestPublisherDepth(t *testing.T) {
	const KiB = 1 << 10
	const slot = 320 * KiB // a 1 MiB/s link, capped at 1.25 MiB/s, 4 slots (the rate is the case's, whatever PublisherSlots is)
	for _, tc := range []struct {
		name        string
		queue       int
		rate        int64
		rtt         time.Duration
		pieceChunks int
		want        int
	}{
		{"loopback", 4, slot, 50 * time.Microsecond, 4, 4},
		{"no rate given", 4, 0, 100 * time.Millisecond, 4, 4},
		{"rtt unknown", 4, slot, 0, 4, 4},
		{"20 ms: less than half a piece more", 4, slot, 20 * time.Millisecond, 4, 4},
		{"100 ms: two round trips of 20 KiB", 4, slot, 100 * time.Millisecond, 4, 8},
		{"100 ms at twice the rate", 4, 2 * slot, 100 * time.Millisecond, 4, 12},
		{"a publisher asking for less than the floor", 1, slot, 0, 4, 4},
		{"a publisher asking for more", 16, slot, 0, 4, 16},
		{"a quarter piece is a whole piece", 4, slot, 0, 16, 16},
		{"pieces of one chunk", 4, slot, 100 * time.Millisecond, 1, 8},
		{"a piece longer than the cap", 4, slot, 0, 256, 256},
		{"no piece length", 4, slot, 0, 0, 4},
		{"far and fast", 4, 100 << 20, time.Second, 4, peerQueue},
		{"absurd rate", 4, 1 << 62, time.Hour, 16, peerQueue},
		{"absurd queue", math.MaxInt, slot, 0, 4, peerQueue},
	} {
		if got := publisherDepth(tc.queue, tc.rate, tc.rtt, tc.pieceChunks); got != tc.want {
			t.Errorf("%s: publisherDepth(%d, %d, %v, %d) = %d, want %d", tc.name, tc.queue, tc.rate, tc.rtt, tc.pieceChunks, got, tc.want)
		}
	}
	// The depth grows with the round trip, and stays whole pieces.
	prev := 0
	for rtt := time.Duration(0); rtt <= 500*time.Millisecond; rtt += 10 * time.Millisecond {
		d := publisherDepth(DefaultPublisherQueue, 2*slot, rtt, 4)
		if d < prev || d%4 != 0 {
			t.Errorf("depth %d at %v (after %d at a shorter round trip)", d, rtt, prev)
		}
		prev = d
	}
}

// TestClientKeepsPublisherQueue: a client downloading from a capped
// publisher reads its handshake and keeps the depth it asked for (the
// round trip on loopback adds nothing); from a peer that is not a
// publisher it records none.
func TestClientKeepsPublisherQueue(t *testing.T) {
	for _, tc := range []struct {
		name      string
		publisher bool
		want      int
	}{
		{"capped publisher", true, DefaultPublisherQueue},
		{"plain peer", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seedDir := t.TempDir()
			path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
			writeRandom(t, path, 1<<20)
			meta, err := torrentmeta.Build(path, "", "")
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true}
			if tc.publisher {
				cfg.UploadRate, cfg.PublisherQueue, cfg.PeersPerTorrent = 16<<20, DefaultPublisherQueue, PublisherSlots
			}
			seeder, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer seeder.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
				t.Fatal(err)
			}
			leecher := newEngine(t, t.TempDir(), 0)
			if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
				t.Fatal(err)
			}
			if got := leecher.Stats().PublisherQueue; got != tc.want {
				t.Errorf("client's queue at the publisher: %d, want %d", got, tc.want)
			}
		})
	}
}

// TestChunkGeometry: the queues counted in 16 KiB blocks become chunks of
// requestChunk (or of a piece, when pieces are shorter), never none.
func TestChunkGeometry(t *testing.T) {
	for _, tc := range []struct {
		pieceLength              int64
		chunkBlocks, pieceChunks int
	}{
		{1 << 10, 1, 1}, // a package under 16 KiB: one piece, one chunk
		{48 << 10, 3, 1},
		{64 << 10, 4, 1},
		{256 << 10, 4, 4},
		{1 << 20, 4, 16},
		{4 << 20, 4, 64},
	} {
		if cb, pc := chunkGeometry(tc.pieceLength); cb != tc.chunkBlocks || pc != tc.pieceChunks {
			t.Errorf("chunkGeometry(%d) = %d blocks a chunk, %d chunks a piece; want %d, %d", tc.pieceLength, cb, pc, tc.chunkBlocks, tc.pieceChunks)
		}
	}
	for _, tc := range []struct{ blocks, chunkBlocks, want int }{
		{DefaultPublisherQueue, 4, 1}, // a publisher's 4 blocks: one chunk, one 64 KiB piece
		{8, 4, 2},
		{peerQueue, 4, 16},
		{5, 4, 2}, // rounded up
		{1, 3, 1},
		{0, 4, 1}, // never none
		{4, 1, 4},
	} {
		if got := blocksToChunks(tc.blocks, tc.chunkBlocks); got != tc.want {
			t.Errorf("blocksToChunks(%d, %d) = %d, want %d", tc.blocks, tc.chunkBlocks, got, tc.want)
		}
	}
}

// TestPeersAskWholeChunks: engines ask each other for whole chunks of
// requestChunk, a seeder capped low included (its rate limiter's burst
// bounds the requests it serves and says it serves: third_party patch
// 35), so the quarter less CPU per byte of 64 KiB requests holds between
// distpac peers; chunks asked of other clients in parts are
// internal/bench's TestSwarmFetchesInPartsFromLibtorrent.
func TestPeersAskWholeChunks(t *testing.T) {
	lengths := func() map[string]int64 {
		out := map[string]int64{}
		v, ok := expvar.Get("requestedChunkLengths").(*expvar.Map)
		if !ok {
			t.Fatal("the library publishes no requestedChunkLengths")
		}
		v.Do(func(kv expvar.KeyValue) {
			if n, ok := kv.Value.(*expvar.Int); ok {
				out[kv.Key] = n.Value()
			}
		})
		return out
	}
	for _, up := range []int64{0, 256 << 10} {
		seedDir := t.TempDir()
		path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
		const size = 1<<20 + 5000 // a short last chunk
		writeRandom(t, path, size)
		meta, err := torrentmeta.Build(path, "", "")
		if err != nil {
			t.Fatal(err)
		}
		seeder := newEngine(t, seedDir, up)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := seeder.Seed(ctx, meta.Torrent, true); err != nil {
			t.Fatal(err)
		}
		before := lengths()
		if err := newEngine(t, t.TempDir(), 0).Download(ctx, meta.Torrent, []netip.AddrPort{loopback(seeder)}, nil); err != nil {
			t.Fatal(err)
		}
		after := lengths()
		whole := after[strconv.Itoa(requestChunk)] - before[strconv.Itoa(requestChunk)]
		short := after[strconv.Itoa(size%requestChunk)] - before[strconv.Itoa(size%requestChunk)]
		if want := int64(size / requestChunk); whole < want || short < 1 {
			t.Errorf("seeder capped at %d B/s: served %d requests of %d bytes and %d of the last chunk's %d, want %d and 1 (all lengths: %v, before %v)",
				up, whole, requestChunk, short, size%requestChunk, want, after, before)
		}
	}
}
