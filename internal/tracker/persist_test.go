package tracker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

// allowOnly serves the given torrents only, as dist-server's whitelist.
func allowOnly(ihs ...[20]byte) func([20]byte) bool {
	return func(ih [20]byte) bool { return slices.Contains(ihs, ih) }
}

// TestRestoreAfterRestart: peers announce, the tracker stops (Save), a new
// one reads the same file (Restore), and a newcomer's announce lists the
// peers of before, with their seeder or leecher state. Before Save and
// Restore a restarted tracker sent newcomers to the pinned seeder alone
// until every client announced again.
func TestRestoreAfterRestart(t *testing.T) {
	clock := newFakeClock()
	ih := infoHash(1)
	opts := Options{Now: clock.Now, Allowed: allowOnly(ih)}
	path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")

	before := New(opts)
	before.AddPeer(ih, loopback(6881), true) // the publisher's seeder
	srv := httptest.NewServer(before.Handler())
	announce(t, srv.URL, announceParams{ih: ih, port: 7001, event: "started"})
	announce(t, srv.URL, announceParams{ih: ih, port: 7002, event: "started"})
	announce(t, srv.URL, announceParams{ih: ih, port: 7003, event: "started", left: 100})
	srv.Close()
	if n, err := before.Save(path); err != nil || n != 3 {
		t.Fatalf("Save: %d peers, %v; want 3", n, err)
	}

	clock.Advance(5 * time.Second) // the restart
	after := New(opts)
	res, err := after.Restore(path)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Restored{Swarms: 1, Peers: 3}) {
		t.Errorf("Restore: %+v, want 3 peers in 1 swarm", res)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the peers file is still there after Restore (%v): a later start would read it again", err)
	}
	after.AddPeer(ih, loopback(6881), true)
	srv = httptest.NewServer(after.Handler())
	defer srv.Close()
	got := announce(t, srv.URL, announceParams{ih: ih, port: 7100, event: "started", left: 100, numWant: 10})
	if ports := got.ports(t); !slices.Equal(ports, []uint16{6881, 7001, 7002, 7003}) {
		t.Errorf("a newcomer after the restart is told %v; want the seeder and the three peers of before", ports)
	}
	if got.Complete != 3 || got.Incomplete != 2 {
		t.Errorf("complete %d incomplete %d; want 3 seeders (6881, 7001, 7002) and 2 leechers (7003, 7100)", got.Complete, got.Incomplete)
	}
}

// TestRestoreKeepsOnlyLiveServedPeers: what a file restores, by the wall
// clock at Restore and the torrents served then.
func TestRestoreKeepsOnlyLiveServedPeers(t *testing.T) {
	kept, withdrawn := infoHash(1), infoHash(2)
	const ttl = 90 * time.Second
	tests := []struct {
		name     string
		down     time.Duration // between Save and Restore
		allowed  [][20]byte    // at Restore
		open     bool          // no Allowed at Restore
		wantRes  Restored
		wantKept []netip.AddrPort // of kept, after Restore
	}{
		{name: "quick restart", down: 10 * time.Second, allowed: [][20]byte{kept},
			wantRes: Restored{Swarms: 1, Peers: 2, NotServed: 1}, wantKept: []netip.AddrPort{loopback(7001), loopback(7002)}},
		// 7001 was seen 60 s before the stop: 40 s of downtime makes it 100 s.
		{name: "40 s down", down: 40 * time.Second, allowed: [][20]byte{kept},
			wantRes: Restored{Swarms: 1, Peers: 1, Expired: 1, NotServed: 1}, wantKept: []netip.AddrPort{loopback(7002)}},
		{name: "an hour down", down: time.Hour, allowed: [][20]byte{kept},
			wantRes: Restored{Expired: 2, NotServed: 1}},
		{name: "withdrawn while down", down: 10 * time.Second, allowed: nil,
			wantRes: Restored{NotServed: 3}},
		{name: "open tracker", down: 10 * time.Second, open: true,
			wantRes: Restored{Swarms: 2, Peers: 3}, wantKept: []netip.AddrPort{loopback(7001), loopback(7002)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			path := filepath.Join(t.TempDir(), "peers")
			before := New(Options{Now: clock.Now, PeerTTL: ttl})
			before.AddPeer(kept, loopback(6881), true)
			announceAt(t, before, kept, loopback(7001), 0)
			clock.Advance(60 * time.Second)
			announceAt(t, before, kept, loopback(7002), 1)
			announceAt(t, before, withdrawn, loopback(7003), 1)
			if _, err := before.Save(path); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.down)
			opts := Options{Now: clock.Now, PeerTTL: ttl, Allowed: allowOnly(tc.allowed...)}
			if tc.open {
				opts.Allowed = nil
			}
			after := New(opts)
			res, err := after.Restore(path)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.wantRes {
				t.Errorf("Restore: %+v, want %+v", res, tc.wantRes)
			}
			if got := after.Peers(kept); !slices.Equal(got, tc.wantKept) {
				t.Errorf("peers of the kept torrent: %v, want %v (the pinned seeder is not saved)", got, tc.wantKept)
			}
			if !tc.open && after.Peers(withdrawn) != nil {
				t.Errorf("a torrent no longer served has peers: %v", after.Peers(withdrawn))
			}
			// The file is read once: a start after a kill -9 finds none.
			again := New(opts)
			if res, err := again.Restore(path); err != nil || res != (Restored{}) {
				t.Errorf("second Restore: %+v, %v; want nothing", res, err)
			}
		})
	}
}

// TestRestoredPeersExpire: a restored peer is dropped when its TTL since
// its last announce before the stop runs out, even in a swarm whose next
// scan was set later by an announce made since the start.
func TestRestoredPeersExpire(t *testing.T) {
	clock := newFakeClock()
	ih := infoHash(1)
	path := filepath.Join(t.TempDir(), "peers")
	before := New(Options{Now: clock.Now})
	announceAt(t, before, ih, loopback(7001), 1)
	clock.Advance(80 * time.Second)
	if _, err := before.Save(path); err != nil {
		t.Fatal(err)
	}
	after := New(Options{Now: clock.Now})
	announceAt(t, after, ih, loopback(7002), 1) // sets the swarm's next scan at 90 s from now
	if after.Peers(ih) == nil {
		t.Fatal("no peers")
	}
	if _, err := after.Restore(path); err != nil {
		t.Fatal(err)
	}
	if got := after.Peers(ih); len(got) != 2 {
		t.Fatalf("peers after Restore: %v", got)
	}
	clock.Advance(11 * time.Second) // 7001 last announced 91 s ago
	if got := after.Peers(ih); !slices.Equal(got, []netip.AddrPort{loopback(7002)}) {
		t.Errorf("peers: %v, want 7001 gone past its TTL", got)
	}
}

// TestRestoreUnderBounds: peers that announced since the start keep their
// entries, and the tracker's bounds (MaxPeersPerIP, MaxTorrents) hold over
// what a file brings.
func TestRestoreUnderBounds(t *testing.T) {
	clock := newFakeClock()
	ih, other := infoHash(1), infoHash(2)
	path := filepath.Join(t.TempDir(), "peers")
	at := func(host string, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr(host), port)
	}
	before := New(Options{Now: clock.Now})
	for _, a := range []netip.AddrPort{at("127.0.0.1", 7001), at("127.0.0.1", 7002), at("127.0.0.1", 7003), at("127.0.0.2", 7001)} {
		announceAt(t, before, ih, a, 0)
	}
	announceAt(t, before, other, loopback(7001), 0)
	if _, err := before.Save(path); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	after := New(Options{Now: clock.Now, MaxTorrents: 2, MaxPeersPerTorrent: 4, MaxPeersPerIP: 2})
	announceAt(t, after, ih, at("127.0.0.1", 7001), 1) // a leecher now
	announceAt(t, after, ih, at("127.0.0.3", 7001), 1)
	announceAt(t, after, infoHash(9), at("127.0.0.9", 7001), 1)
	res, err := after.Restore(path)
	if err != nil {
		t.Fatal(err)
	}
	// 127.0.0.1:7001 is there already; 7002 makes two of 127.0.0.1, and
	// 7003 one too many; the other torrent finds the table full.
	if want := (Restored{Swarms: 1, Peers: 2, Over: 2}); res != want {
		t.Errorf("Restore: %+v, want %+v", res, want)
	}
	want := []netip.AddrPort{at("127.0.0.1", 7001), at("127.0.0.1", 7002), at("127.0.0.2", 7001), at("127.0.0.3", 7001)}
	if got := after.Peers(ih); !slices.Equal(got, want) {
		t.Errorf("peers %v, want %v", got, want)
	}
	if st := after.Stats(); st.Torrents != 2 || st.Leechers != 3 {
		t.Errorf("stats %+v: want 2 torrents, 127.0.0.1:7001 still the leecher it announced as", st)
	}
}

// announceAt announces ih from addr with left bytes to go.
func announceAt(t *testing.T, tr *Tracker, ih [20]byte, addr netip.AddrPort, left int64) {
	t.Helper()
	req := anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: addr.Port(), Left: left}
	if err := tr.TrackAnnounce(context.Background(), req, addr); err != nil {
		t.Fatalf("announce from %v: %v", addr, err)
	}
}

// A peers file as Save writes it, for the damaged-file cases.
const (
	goodHeader = `{"format":"distpac tracker peers","version":1,"saved":1735689600,"swarms":1}`
	goodSwarm  = `{"info_hash":"ff01010101010101010101010101010101010101","peers":[{"addr":"127.0.0.1:7001","seeder":true,"seen":1735689600}]}`
)

// swarmLine is a swarm line of info hash ff01… with the given peers' JSON.
func swarmLine(peers ...string) string {
	return `{"info_hash":"ff01010101010101010101010101010101010101","peers":[` + strings.Join(peers, ",") + `]}`
}

// TestRestoreDamagedFile: a peers file that is not what Save writes
// restores nothing, with an error that names the file and what is wrong,
// and is removed; the tracker works on, empty.
func TestRestoreDamagedFile(t *testing.T) {
	manyPeers := make([]string, 5)
	for i := range manyPeers {
		manyPeers[i] = fmt.Sprintf(`{"addr":"127.0.0.%d:7001","seeder":true,"seen":1735689600}`, i+1)
	}
	tests := []struct {
		name, content, want string
	}{
		{"empty", "", "no header line"},
		{"not JSON", "PK\x03\x04 a zip file\n", "line 1 (the header): invalid character"},
		{"another format", `{"format":"opentracker","version":1,"saved":1,"swarms":0}`, `format "opentracker" version 1`},
		{"a later version", `{"format":"distpac tracker peers","version":4,"saved":1,"swarms":0}`, "version 4"},
		{"unknown header key", `{"format":"distpac tracker peers","version":1,"saved":1,"swarms":0,"x":1}`, `unknown field "x"`},
		{"no saved time", `{"format":"distpac tracker peers","version":1,"swarms":0}`, "saved 0 is no time"},
		{"negative swarms", `{"format":"distpac tracker peers","version":1,"saved":1,"swarms":-1}`, "-1 swarms"},
		{"more swarms than MaxTorrents", `{"format":"distpac tracker peers","version":1,"saved":1,"swarms":3}`, "3 swarms, want 0 to 2"},
		{"cut mid-line", goodHeader + "\n" + goodSwarm[:60], "line 2: unexpected EOF"},
		{"cut at a line's end", strings.Replace(goodHeader, `"swarms":1`, `"swarms":2`, 1) + "\n" + goodSwarm + "\n", "truncated: 1 swarm lines of the 2"},
		{"a line more than the header says", goodHeader + "\n" + goodSwarm + "\n" + goodSwarm + "\n", "line 3: more swarm lines than the 1"},
		{"two values on a line", goodHeader + "\n" + goodSwarm + " {}\n", "line 2: more than one JSON value"},
		{"info hash listed twice", strings.Replace(goodHeader, `"swarms":1`, `"swarms":2`, 1) + "\n" + goodSwarm + "\n" + swarmLine(`{"addr":"127.0.0.1:7002","seen":1735689600}`), "info hash ff01010101010101010101010101010101010101 listed twice"},
		{"short info hash", goodHeader + "\n" + `{"info_hash":"ff01","peers":[]}`, `info_hash "ff01" is not 40 hex digits`},
		{"info hash not hex", goodHeader + "\n" + strings.Replace(goodSwarm, "ff01", "zz01", 1), "invalid byte"},
		{"info hash a number", goodHeader + "\n" + `{"info_hash":12,"peers":[]}`, "cannot unmarshal number"},
		{"no peers", goodHeader + "\n" + swarmLine(), "no peers"},
		{"peers not a list", goodHeader + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","peers":{}}`, "cannot unmarshal object"},
		{"more peers than MaxPeersPerTorrent", goodHeader + "\n" + swarmLine(manyPeers...), "5 peers, more than 4"},
		{"address without port", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1","seen":1735689600}`), "peer 1: not an ip:port"},
		{"port 0", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:0","seen":1735689600}`), "127.0.0.1:0 is no peer address"},
		{"unspecified address", goodHeader + "\n" + swarmLine(`{"addr":"[::]:7001","seen":1735689600}`), "[::]:7001 is no peer address"},
		{"port over 65535", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:70000","seen":1735689600}`), "peer 1:"},
		{"peer listed twice", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001","seen":1735689600}`, `{"addr":"[::ffff:127.0.0.1]:7001","seen":1735689600}`), "peer 127.0.0.1:7001 listed twice"},
		{"no seen time", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001"}`), "seen 0 is no time"},
		{"seen a string", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001","seen":"yesterday"}`), "cannot unmarshal string"},
		{"seen a fraction", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001","seen":1.5}`), "cannot unmarshal number 1.5"},
		{"seeder a string", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001","seeder":"yes","seen":1}`), "cannot unmarshal string"},
		{"unknown peer key", goodHeader + "\n" + swarmLine(`{"addr":"127.0.0.1:7001","seen":1,"peer_id":"x"}`), `unknown field "peer_id"`},
		{"a line longer than a full swarm's", goodHeader + "\n" + strings.Repeat(" ", 5*maxPeerLine+4*maxHostLine+1) + goodSwarm, "line 2 longer than 960 bytes"},
		{"oversized", goodHeader + "\n" + goodSwarm + strings.Repeat("\n", 3*(5*maxPeerLine+4*maxHostLine)), "more than the 2880 a full tracker writes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			tr := New(Options{Now: clock.Now, MaxTorrents: 2, MaxPeersPerTorrent: 4})
			res, err := tr.Restore(path)
			if err == nil {
				t.Fatalf("Restore took it: %+v", res)
			}
			if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrPeersFile naming %s and saying %q", err, path, tc.want)
			}
			if st := tr.Stats(); st.Peers != 0 || res != (Restored{}) {
				t.Errorf("a damaged file restored %+v (stats %+v)", res, st)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the damaged file is still there (%v): every start would warn again", err)
			}
			announceAt(t, tr, infoHash(1), loopback(7001), 1)
		})
	}
	// A FIFO blocked the open until a writer came: dist-server start hung
	// for ever, deaf to Ctrl-C (the state files' FIFO attack).
	t.Run("a FIFO", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "peers")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { _, err := New(Options{}).Restore(path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("error %v: want ErrPeersFile saying it is not a regular file", err)
			}
		case <-time.After(5 * time.Second):
			os.WriteFile(path, nil, 0o600) // a writer, to let the open go
			t.Fatal("Restore of a FIFO still blocks after 5 s")
		}
	})
	t.Run("a directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "peers")
		os.Mkdir(path, 0o755)
		os.WriteFile(filepath.Join(path, "x"), nil, 0o600) // so it cannot be removed either
		_, err := New(Options{}).Restore(path)
		if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "cannot remove it") {
			t.Errorf("error %v: want ErrPeersFile saying it is not a regular file and could not be removed", err)
		}
	})
}

// TestSaveRoundTrip: what Save writes is what parsePeers reads, IPv6 and
// mapped addresses included, and a tracker with nothing announced writes
// a file that restores nothing.
func TestSaveRoundTrip(t *testing.T) {
	clock := newFakeClock()
	ih := infoHash(3)
	dir := t.TempDir()
	tr := New(Options{Now: clock.Now})
	tr.AddPeer(ih, loopback(6881), true)
	if n, err := tr.Save(filepath.Join(dir, "empty")); err != nil || n != 0 {
		t.Fatalf("Save of the pinned seeder alone: %d, %v", n, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "empty"))
	if lines := bytes.Count(b, []byte("\n")); lines != 1 {
		t.Errorf("a table of pinned peers only wrote %d lines:\n%s", lines, b)
	}
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("[2001:db8::1]:7001"),
		netip.MustParseAddrPort("[::ffff:10.0.0.1]:7002"),
		netip.MustParseAddrPort("10.0.0.2:65535"),
	}
	for _, a := range addrs {
		announceAt(t, tr, ih, a, 0)
	}
	path := filepath.Join(dir, "peers")
	if n, err := tr.Save(path); err != nil || n != 3 {
		t.Fatalf("Save: %d, %v", n, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("peers file: %v, %v; want mode 0600", fi, err)
	}
	back := New(Options{Now: clock.Now})
	if _, err := back.Restore(path); err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:7002"), addrs[2], addrs[0]}
	if got := back.Peers(ih); !slices.Equal(got, want) {
		t.Errorf("restored %v, want %v", got, want)
	}
	if st := back.Stats(); st.Seeders != 3 {
		t.Errorf("restored %d seeders, want 3", st.Seeders)
	}
}

// TestRestoreClampsFutureTimes: a last-seen time after the restorer's
// clock (the clock stepped back during the restart, or a forged file)
// counts as now, so no peer outlives PeerTTL after the start.
func TestRestoreClampsFutureTimes(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "peers")
	future := clock.Now().Add(100 * 365 * 24 * time.Hour).Unix()
	os.WriteFile(path, []byte(goodHeader+"\n"+swarmLine(fmt.Sprintf(`{"addr":"127.0.0.1:7001","seeder":true,"seen":%d}`, future))+"\n"), 0o600)
	tr := New(Options{Now: clock.Now, PeerTTL: 90 * time.Second})
	if res, err := tr.Restore(path); err != nil || res.Peers != 1 {
		t.Fatalf("Restore: %+v, %v", res, err)
	}
	clock.Advance(90 * time.Second)
	if got := tr.Peers(infoHash(1)); got != nil {
		t.Errorf("a peer seen 'in a century' outlived PeerTTL: %v", got)
	}
}

// BenchmarkSaveRestore: a table of 100,000 peers (100 swarms of 1,000)
// written at a stop and read back at a start.
func BenchmarkSaveRestore(b *testing.B) {
	clock := newFakeClock()
	tr := New(Options{Now: clock.Now})
	for i := range 100 {
		ih := infoHash(byte(i))
		for j := range 1000 {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i), byte(j >> 8), byte(j)}), 6881)
			if err := tr.trackAnnounce(anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: 6881, Left: int64(j % 2)}, addr); err != nil {
				b.Fatal(err)
			}
		}
	}
	path := filepath.Join(b.TempDir(), "peers")
	var size int64
	for b.Loop() {
		if n, err := tr.Save(path); err != nil || n != 100_000 {
			b.Fatalf("Save: %d, %v", n, err)
		}
		fi, _ := os.Stat(path)
		size = fi.Size()
		if res, err := New(Options{Now: clock.Now}).Restore(path); err != nil || res.Peers != 100_000 {
			b.Fatalf("Restore: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(size), "file-bytes")
}
