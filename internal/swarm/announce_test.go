package swarm

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
)

// A client that closes its engine leaves the tracker's swarm at once,
// instead of being handed to other clients until its entry expires.
func TestCloseAnnouncesStopped(t *testing.T) {
	trk, announce := startTracker(t)

	seedDir, leechDir := t.TempDir(), t.TempDir()
	path := filepath.Join(seedDir, "pkg-1.0.0.tar.zst")
	writeRandom(t, path, 256<<10)
	meta, err := torrentmeta.Build(path, announce, "")
	if err != nil {
		t.Fatal(err)
	}
	seeder := newEngine(t, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	trk.AddPeer(ih, loopback(seeder), true)

	leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := leecher.Download(ctx, meta.Torrent, nil, nil); err != nil {
		t.Fatal(err)
	}
	me := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(leecher.Port()))
	for deadline := time.Now().Add(10 * time.Second); !slices.Contains(trk.Peers(ih), me); {
		if time.Now().After(deadline) {
			t.Fatalf("the tracker never listed the leecher %v: %v", me, trk.Peers(ih))
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	leecher.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	if slices.Contains(trk.Peers(ih), me) {
		t.Errorf("after Close the tracker still lists the leecher %v", me)
	}
	if !slices.Contains(trk.Peers(ih), loopback(seeder)) {
		t.Errorf("the seeder %v went missing from the tracker", loopback(seeder))
	}
}

// startTracker runs an embedded tracker on loopback for the test and
// returns it and its announce URL.
func startTracker(t *testing.T) (*tracker.Tracker, string) {
	t.Helper()
	trk := tracker.New(tracker.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: trk.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return trk, "http://" + ln.Addr().String() + "/announce"
}

// TestJitterSpreadsWaits: waits stay within announceJitter of what was
// asked, and announces that waited together no longer come together.
func TestJitterSpreadsWaits(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 5 * time.Second, 30 * time.Minute} {
		lo := time.Duration(float64(d) * (1 - announceJitter))
		hi := time.Duration(float64(d) * (1 + announceJitter))
		seen := map[time.Duration]bool{}
		var below, above int
		for range 1000 {
			j := jitter(d)
			if j < lo || j > hi {
				t.Fatalf("jitter(%v) = %v, want within [%v, %v]", d, j, lo, hi)
			}
			seen[j] = true
			if j < d {
				below++
			} else if j > d {
				above++
			}
		}
		if len(seen) < 900 || below < 400 || above < 400 {
			t.Errorf("jitter(%v) over 1000 draws: %d distinct, %d below, %d above; want them spread both ways", d, len(seen), below, above)
		}
	}
}
