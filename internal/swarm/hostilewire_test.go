package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/swarm/peertest"
	"github.com/distpac/distpac/internal/torrentmeta"
)

// One message from any peer killed the whole process in the library:
// BEP 52 hashes for a pieces root no file has (a v1 torrent has none:
// "panic: not set"), with proof layers or past the end, and a BEP 9
// metadata request for piece -1 (slice bounds out of range) or past any
// metadata. Each now ends that connection, and the engine goes on
// serving: a download from it completes afterwards. Found by an attacker's
// run (third_party patch 24); e2e TestHostileWireMessages sends them to
// dist-server and the daemon.
func TestHostileWireMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, 256<<10)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := New(Config{Dir: dir, ListenAddr: "127.0.0.1:0", DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	ih, err := seeder.Seed(context.Background(), meta.Torrent, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range peertest.HostileMessages {
		w, err := peertest.Dial(ctx, seeder.Addr().String(), ih)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if err := w.Send(h.Msg(w)); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if !w.Closed(5 * time.Second) {
			t.Errorf("%s: the connection stays open", h.Name)
		}
		w.Close()
	}
	leechDir := t.TempDir()
	leecher, err := New(Config{Dir: leechDir, ListenAddr: "127.0.0.1:0", DisableTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	if err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{seeder.Addr()}, nil); err != nil {
		t.Fatalf("download after the hostile messages: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(leechDir, "pkg-1.0.0.tar.zst")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the download differs (%v)", err)
	}
}
