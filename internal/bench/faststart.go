//go:build linux

package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/tracker"
)

// FastStart measures, for one small package, the time from a client
// engine's start to its first payload byte and to completion, through the
// real tracker and the real engine on 127.0.0.1: the path `install` takes.
func FastStart(ctx context.Context, dir string, size int64) (first, done time.Duration, err error) {
	trk := tracker.New(tracker.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	hs := &http.Server{Handler: trk.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	announce := "http://" + ln.Addr().String() + "/announce"

	seedDir, leechDir := filepath.Join(dir, "seed"), filepath.Join(dir, "leech")
	os.MkdirAll(seedDir, 0o755)
	path := filepath.Join(seedDir, "small-1.0.0.tar.zst")
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return 0, 0, err
	}
	meta, err := torrentmeta.Build(path, announce, "")
	if err != nil {
		return 0, 0, err
	}
	seeder, err := swarm.New(swarm.Config{Dir: seedDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true})
	if err != nil {
		return 0, 0, err
	}
	defer seeder.Close()
	ih, err := seeder.Seed(ctx, meta.Torrent, true)
	if err != nil {
		return 0, 0, err
	}
	trk.AddPeer(ih, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(seeder.Port())), true)

	t0 := time.Now()
	leecher, err := swarm.New(swarm.Config{Dir: leechDir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		return 0, 0, err
	}
	defer leecher.Close()
	err = leecher.Download(ctx, meta.Torrent, nil, func(p swarm.Progress) {
		if first == 0 && p.Done > 0 {
			first = time.Since(t0)
		}
	})
	done = time.Since(t0)
	if first == 0 {
		first = done // the whole file arrived before the first progress tick
	}
	if err != nil {
		return first, done, fmt.Errorf("fast start: %w", err)
	}
	return first, done, nil
}
