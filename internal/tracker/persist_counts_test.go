package tracker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	anacrolixTracker "github.com/anacrolix/torrent/tracker"
)

// goodHeaderV2 heads a peers file with completed counts, of one line.
const goodHeaderV2 = `{"format":"distpac tracker peers","version":2,"saved":1735689600,"swarms":1}`

// completeAt announces ih from addr as a leecher, then as having completed
// it: one download counted (countDownload).
func completeAt(t *testing.T, tr *Tracker, ih [20]byte, port uint16) {
	t.Helper()
	addr := loopback(port)
	announceAt(t, tr, ih, addr, 1)
	req := anacrolixTracker.AnnounceRequest{InfoHash: ih, Port: port, Left: 0, Event: anacrolixTracker.Completed}
	if err := tr.TrackAnnounce(context.Background(), req, addr); err != nil {
		t.Fatalf("completed from %v: %v", addr, err)
	}
}

// completedOf is Scrape's downloaded count of ih.
func completedOf(t *testing.T, tr *Tracker, ih [20]byte) int32 {
	t.Helper()
	res, err := tr.Scrape(context.Background(), [][20]byte{ih})
	if err != nil || len(res) != 1 {
		t.Fatalf("scrape: %v, %v", res, err)
	}
	return res[0].Completed
}

// TestRestoreKeepsCompletedCounts: a clean restart keeps each published
// torrent's completed count (scrape's downloaded, the server's
// distpac_package_downloads_total), whether its peers are still live at
// the start or long gone, and whether the seeder registers before the
// first scrape or not at all. Before, every count went back to 0 at each
// restart while the peers came back.
func TestRestoreKeepsCompletedCounts(t *testing.T) {
	kept, withdrawn := infoHash(1), infoHash(2)
	tests := []struct {
		name      string
		down      time.Duration
		pin       bool // the server's seeder registers after Restore
		wantRes   Restored
		wantAfter int32 // kept's count once restored and one more completed
	}{
		{name: "quick restart", down: 10 * time.Second, pin: true,
			wantRes: Restored{Swarms: 1, Peers: 3, NotServed: 1, Counts: 1, Hosts: 1}, wantAfter: 4},
		{name: "an hour down: the peers expired, not the count", down: time.Hour, pin: true,
			wantRes: Restored{Expired: 3, NotServed: 1, Counts: 1, Hosts: 1}, wantAfter: 4},
		{name: "no seeder (--no-seeder)", down: time.Hour,
			wantRes: Restored{Expired: 3, NotServed: 1, Counts: 1, Hosts: 1}, wantAfter: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
			before := New(Options{Now: clock.Now})
			before.AddPeer(kept, loopback(6881), true)
			for _, port := range []uint16{7001, 7002, 7003} {
				completeAt(t, before, kept, port)
			}
			completeAt(t, before, withdrawn, 7001)
			if got := completedOf(t, before, kept); got != 3 {
				t.Fatalf("before the stop: %d completed, want 3", got)
			}
			if _, err := before.Save(path); err != nil {
				t.Fatal(err)
			}
			clock.Advance(tc.down)
			after := New(Options{Now: clock.Now, Allowed: allowOnly(kept)})
			res, err := after.Restore(path)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.wantRes {
				t.Errorf("Restore: %+v, want %+v", res, tc.wantRes)
			}
			if got := completedOf(t, after, kept); got != 3 {
				t.Errorf("after the restart: %d completed, want the 3 of before", got)
			}
			if got := completedOf(t, after, withdrawn); got != 0 {
				t.Errorf("a torrent no longer published: %d completed, want 0", got)
			}
			if tc.pin {
				after.AddPeer(kept, loopback(6881), true)
			}
			completeAt(t, after, kept, 7009)
			if got := completedOf(t, after, kept); got != tc.wantAfter {
				t.Errorf("after one more download: %d completed, want %d", got, tc.wantAfter)
			}
			// And across a second restart, peers gone or not.
			if _, err := after.Save(path); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
			again := New(Options{Now: clock.Now, Allowed: allowOnly(kept)})
			if _, err := again.Restore(path); err != nil {
				t.Fatal(err)
			}
			if got := completedOf(t, again, kept); got != tc.wantAfter {
				t.Errorf("after a second restart: %d completed, want %d", got, tc.wantAfter)
			}
		})
	}
}

// TestRestoreCountsOnly: a count restored for a torrent with no swarm
// yet is kept until one is made, not lost with it, and is saved again if
// none is.
func TestRestoreCountsOnly(t *testing.T) {
	clock := newFakeClock()
	ih := infoHash(1)
	path := filepath.Join(t.TempDir(), "peers")
	content := goodHeaderV2 + "\n" +
		`{"info_hash":"ff01010101010101010101010101010101010101","completed":41}` + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := New(Options{Now: clock.Now})
	if res, err := tr.Restore(path); err != nil || res != (Restored{Counts: 1}) {
		t.Fatalf("Restore: %+v, %v; want one count", res, err)
	}
	if st := tr.Stats(); st.Torrents != 0 {
		t.Errorf("a count alone made a swarm: %+v", st)
	}
	completeAt(t, tr, ih, 7001)
	if got := completedOf(t, tr, ih); got != 42 {
		t.Errorf("%d completed, want 41 restored and one since", got)
	}
	clock.Advance(time.Hour) // the swarm empties and goes; its count must not
	tr.Sweep()
	if n, err := tr.Save(path); err != nil || n != 0 {
		t.Fatalf("Save: %d, %v", n, err)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), `"completed":42`) {
		t.Errorf("the file of a tracker whose swarm emptied lost its count:\n%s", b)
	}
}

// TestRestoreReadsVersion1: the peers file of the binary before counts
// were saved (version 1) is read at the first start of this one: an
// upgrade is a clean restart too.
func TestRestoreReadsVersion1(t *testing.T) {
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "peers")
	if err := os.WriteFile(path, []byte(goodHeader+"\n"+swarmLine(`{"addr":"127.0.0.1:7001","seeder":true,"seen":1735689600}`)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := New(Options{Now: clock.Now})
	if res, err := tr.Restore(path); err != nil || res != (Restored{Swarms: 1, Peers: 1}) {
		t.Errorf("Restore of a version 1 file: %+v, %v; want its peer", res, err)
	}
}

// TestRestoreDamagedCounts: a count that is not what Save writes refuses
// the whole file, naming it and the line, as any damage does.
func TestRestoreDamagedCounts(t *testing.T) {
	line := func(rest string) string {
		return goodHeaderV2 + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101"` + rest + "}\n"
	}
	tests := []struct{ name, content, want string }{
		{"negative", line(`,"completed":-1`), "line 2: info hash ff01010101010101010101010101010101010101: completed -1"},
		{"past int32", line(`,"completed":2147483648`), "completed 2147483648"},
		{"a string", line(`,"completed":"7"`), "cannot unmarshal string"},
		{"neither peers nor a count", line(`,"completed":0`), "line 2: info hash ff01010101010101010101010101010101010101: no peers and no completed count"},
		{"a later version", `{"format":"distpac tracker peers","version":4,"saved":1,"swarms":0}`, "version 4, want"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peers")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			tr := New(Options{Now: newFakeClock().Now})
			res, err := tr.Restore(path)
			if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Restore: %+v, %v; want ErrPeersFile naming %s and saying %q", res, err, path, tc.want)
			}
			if got := completedOf(t, tr, infoHash(1)); got != 0 || res != (Restored{}) {
				t.Errorf("a refused file restored %+v, count %d", res, got)
			}
		})
	}
}
