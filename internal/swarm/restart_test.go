package swarm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wedgeProxy stands between a downloader and a seeder. It wedges once the
// seeder has sent wedgeAfter bytes through it: the seeder's side of every
// connection is closed, the downloader's kept open, read and never written
// to again, so the downloader holds connected peers that send nothing, as
// when the library's connections wedge (download.go's stall restart). Once
// the downloader closes a wedged connection (a restart drops the torrent
// and its connections), connections are forwarded whole. (The library
// dials twice at times and keeps one; the budget is shared, so either
// wedges.)
type wedgeProxy struct {
	*testPeer
	to       netip.AddrPort
	mu       sync.Mutex
	left     int64 // bytes still forwarded before the wedge
	cured    bool  // a wedged connection was closed by the downloader
	accepted int
}

func newWedgeProxy(t *testing.T, to netip.AddrPort, wedgeAfter int64) *wedgeProxy {
	t.Helper()
	p := &wedgeProxy{testPeer: listenTestPeer(t), to: to, left: wedgeAfter}
	p.serve(p.handle)
	return p
}

func (p *wedgeProxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *wedgeProxy) handle(down net.Conn) {
	up, err := net.Dial("tcp", p.to.String())
	if err != nil {
		down.Close()
		return
	}
	p.keep(up)
	p.mu.Lock()
	p.accepted++
	wedging := !p.cured
	p.mu.Unlock()
	var wedged atomic.Bool
	go func() {
		io.Copy(up, down)
		io.Copy(io.Discard, down) // wedged: keep reading, say nothing
		if wedged.Load() {
			p.mu.Lock()
			p.cured = true
			p.mu.Unlock()
		}
	}()
	defer up.Close()
	if !wedging {
		io.Copy(down, up)
		down.Close()
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		p.mu.Lock()
		n = int(min(int64(n), p.left))
		p.left -= int64(n)
		full := p.left == 0
		p.mu.Unlock()
		if n > 0 {
			if _, werr := down.Write(buf[:n]); werr != nil {
				return
			}
		}
		if full {
			wedged.Store(true)
			return
		}
		if err != nil {
			down.Close()
			return
		}
	}
}

// countRecords is a log handler that counts the records of one message.
type countRecords struct {
	msg string
	n   *atomic.Int32
}

func (h countRecords) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h countRecords) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h countRecords) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countRecords) WithGroup(string) slog.Handler      { return h }

// TestSharedDownloadStallRestart: Downloads of one torrent (two installs
// of a package through the daemon) whose only connection wedges with
// 512 KiB of 4 MiB received. The torrent is restarted once, and every
// Download goes on with the torrent added again and finishes. Before, a
// stall restart ran only for a lone Download, so two waited on the wedged
// connection until their contexts ended (45 s here). One Download alone
// is the case that always worked.
func TestSharedDownloadStallRestart(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d downloads", n), func(t *testing.T) { testStallRestart(t, n) })
	}
}

func testStallRestart(t *testing.T, downloads int) {
	seedDir, dir := t.TempDir(), t.TempDir()
	seeder := newEngine(t, seedDir, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	meta, ih := seedRandom(t, ctx, seeder, seedDir, "wedge-1.0.0.tar.zst", 4<<20)
	want, err := os.ReadFile(filepath.Join(seedDir, "wedge-1.0.0.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newWedgeProxy(t, loopback(seeder), 512<<10)
	var restarts atomic.Int32
	e, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true, GiveUpAfter: time.Minute,
		Logger: slog.New(countRecords{msg: "download stalled with peers connected; restarting it", n: &restarts})})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.stallAfter = 3 * time.Second // set before any Download reads it
	direct := []netip.AddrPort{proxy.addr()}
	callers := func() int { e.mu.Lock(); defer e.mu.Unlock(); return e.callers[ih] }

	done := make([]chan error, downloads)
	for i := range done {
		done[i] = make(chan error, 1)
		go func() { done[i] <- e.Download(ctx, meta.Torrent, direct, nil) }()
		waitUntil(t, ctx, "the download joins", func() bool { return callers() == i+1 })
	}
	for i, d := range done {
		if err := <-d; err != nil {
			t.Errorf("download %d: %v (proxy connections %d, restarts %d)", i+1, err, proxy.connections(), restarts.Load())
		}
	}
	if t.Failed() {
		return
	}
	if n := restarts.Load(); n != 1 {
		t.Errorf("%d restarts, want 1 for one stall", n)
	}
	if n := proxy.connections(); n < 2 {
		t.Errorf("%d connections to the seeder: the wedged one was never replaced", n)
	}
	if n := callers(); n != 0 {
		t.Errorf("%d Download calls counted after all returned", n)
	}
	if !e.Has(ih) {
		t.Error("the completed torrent is not held for seeding")
	}
	got, err := os.ReadFile(filepath.Join(dir, "wedge-1.0.0.tar.zst"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("downloaded payload differs (%v)", err)
	}
	r, ok := e.Transfer(ih)
	if !ok || r.Total != 4<<20 || r.FromSeeder+r.AlreadyHad < r.Total {
		t.Errorf("transfer report %+v (ok %v): want the seeder's bytes and those found on disk to make the whole", r, ok)
	}
	t.Logf("proxy connections %d, report %+v", proxy.connections(), r)
}
