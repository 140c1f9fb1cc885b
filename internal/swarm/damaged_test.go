package swarm

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestDamagedPublisherCopyFailsFast: a publisher whose copy of an archive
// was damaged after it was published (its seeder seeds what the torrent
// says is complete, and its web seed serves the same bytes) ends a
// download with a DamagedError naming it, after a few pieces, not an
// endless re-fetch of the bad piece: the library never bans the
// publisher's seeder (a trusted peer) and asks it again for a piece that
// failed, and web seeds are tried again every round. Before, both
// downloads ran until their context ended (an attacker's run: 15 GiB in
// 10 minutes for one 22 KiB piece).
func TestDamagedPublisherCopyFailsFast(t *testing.T) {
	for _, tc := range []string{"seeder", "web seed"} {
		t.Run(tc, func(t *testing.T) {
			const size = 300<<10 + 7 // 5 pieces of 64 KiB
			srcDir, leechDir := t.TempDir(), t.TempDir()
			path := filepath.Join(srcDir, "pkg-1.0.0.tar.zst")
			data := writeRandom(t, path, size)
			var sent atomic.Int64
			webSeed := ""
			if tc == "web seed" {
				webSeed = webSeedServer(t, path, false, true, &sent).URL + "/packages/"
			}
			meta, err := torrentmeta.Build(path, "", webSeed)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var direct []netip.AddrPort
			var seeder *Engine
			if tc == "seeder" {
				data[size/2] ^= 0xff // the third piece
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				seeder = newEngine(t, srcDir, 0)
				// Unverified: taken as complete by its size, as a file
				// damaged after the server's check at its start is.
				if _, err := seeder.Seed(ctx, meta.Torrent, false); err != nil {
					t.Fatal(err)
				}
				direct = []netip.AddrPort{loopback(seeder)}
			}
			leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, WebSeedAfter: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer leecher.Close()
			start := time.Now()
			err = leecher.Download(ctx, meta.Torrent, direct, nil)
			var damaged *DamagedError
			if !errors.As(err, &damaged) {
				t.Fatalf("download from a damaged %s: %v after %v, want a DamagedError", tc, err, time.Since(start).Round(time.Millisecond))
			}
			t.Logf("%v after %v", err, time.Since(start).Round(time.Millisecond))
			if damaged.Failures < maxPublisherBadPieces {
				t.Errorf("failures %d, want at least %d", damaged.Failures, maxPublisherBadPieces)
			}
			named := strings.TrimPrefix(strings.Split(webSeed, "/packages")[0], "http://")
			if tc == "seeder" {
				named = direct[0].String()
			}
			if !strings.Contains(err.Error(), named) || !strings.Contains(err.Error(), "damaged") {
				t.Errorf("error %q does not name %s and the damage", err, named)
			}
			if seeder != nil && runtime.GOOS == "linux" {
				// The .part left holds the verified pieces only
				// (partholes.go): the bad third piece is no longer
				// allocated, so the next plan does not count it as kept.
				// It was: the file was whole, and the plan said "0 B of".
				fi, err := os.Stat(filepath.Join(leechDir, "pkg-1.0.0.tar.zst.part"))
				if err != nil {
					t.Fatal(err)
				}
				// (Plus the last block's rounding.)
				if held := fi.Sys().(*syscall.Stat_t).Blocks * 512; held > size-64<<10+4<<10 {
					t.Errorf("the part file left holds %d bytes of a %d-byte file, one piece of which failed every time", held, size)
				}
			}
			if seeder != nil {
				// The good pieces once and the bad one a few times, as it
				// fails; polling the counts every 200 ms let the seeder send
				// it 680 times (44 MB), the context's 20 s GBs.
				up := seeder.Stats().Uploaded
				t.Logf("the seeder uploaded %d bytes of a %d-byte file", up, size)
				if limit := int64(size) + 4*maxPublisherBadPieces*(64<<10); up > limit {
					t.Errorf("the seeder uploaded %d bytes of a %d-byte file, want at most %d", up, size, limit)
				}
			}
		})
	}
}
