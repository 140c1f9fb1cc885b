package swarm

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/nettest"
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

// TestHolepunchConnectRefused: a ut_holepunch (BEP 55) "connect" made the
// library dial the address it names, once per message and whatever the
// address: an attacker's run had the publisher's seeder open 2,000
// connections to one port in 10 ms, and a daemon 15,000. The engine no
// longer offers ut_holepunch (third_party patch 50; it serves uTP, which
// is off): a peer that sends it anyway is disconnected, and nothing is
// dialled.
func TestHolepunchConnectRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seeder := newEngine(t, dir, 0)
	_, ih := seedRandom(t, context.Background(), seeder, dir, "pkg-1.0.0.tar.zst", 64<<10)
	sink, dialled := nettest.Hanging(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := peertest.Dial(ctx, seeder.Addr().String(), ih)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	id := peertest.ExtensionID(w.Handshake, "ut_holepunch")
	if id != 0 {
		t.Errorf("the extended handshake offers ut_holepunch (id %d): %q", id, w.Handshake)
	} else {
		// Not offered, so no id names it: a peer sending it anyway uses
		// one the engine gave nothing, and is disconnected for that.
		id = 200
	}
	target := netip.MustParseAddrPort(sink)
	for range 200 {
		if err := w.Send(peertest.HolepunchConnect(byte(id), target)); err != nil {
			break // disconnected
		}
	}
	if !w.Closed(5 * time.Second) {
		t.Error("the connection that sent ut_holepunch stays open")
	}
	time.Sleep(500 * time.Millisecond) // dials under way would have arrived
	if n := dialled.Load(); n != 0 {
		t.Fatalf("200 holepunch connects made the engine dial the address they named %d times", n)
	}
}
