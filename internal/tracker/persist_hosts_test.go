package tracker

import (
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRestoreKeepsDailyLimit: a host counts MaxPeersPerIP downloads of a
// torrent a day (countDownload), and the day's record goes over a clean
// restart with the counts (format 3). Before, a host that had used its
// allowance got a fresh one at every restart: its next download counted.
// A window that ended while the server was down is left out at the
// start, and a format 2 file (no hosts) still restores its counts.
func TestRestoreKeepsDailyLimit(t *testing.T) {
	ih := infoHash(1)
	tests := []struct {
		name      string
		down      time.Duration
		v2        bool // the file a binary before wrote
		wantRes   Restored
		wantAfter int32 // the count once 127.0.0.1 completed once more
	}{
		{name: "ten minutes down: the allowance stays used", down: 10 * time.Minute,
			wantRes: Restored{Counts: 1, Hosts: 1, Expired: 1}, wantAfter: 2}, // 7003 took 7001's place beside the seeder
		{name: "a day down: a new window", down: downloadWindow,
			wantRes: Restored{Counts: 1, HostsExpired: 1, Expired: 1}, wantAfter: 3},
		{name: "a version 2 file", down: 10 * time.Minute, v2: true,
			wantRes: Restored{Counts: 1, Expired: 1}, wantAfter: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
			opts := Options{Now: clock.Now, MaxPeersPerIP: 2}
			before := New(opts)
			before.AddPeer(ih, loopback(6881), true)
			for _, port := range []uint16{7001, 7002, 7003} {
				completeAt(t, before, ih, port)
			}
			if got := completedOf(t, before, ih); got != 2 {
				t.Fatalf("before the stop: %d completed, want 2 (MaxPeersPerIP)", got)
			}
			if _, err := before.Save(path); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"version":3`) || !strings.Contains(string(b), `"hosts":[{"host":"127.0.0.1","n":2,"since":1735689600}]`) {
				t.Fatalf("the file holds no host's window:\n%s", b)
			}
			if tc.v2 {
				v2 := strings.Replace(string(b), `"version":3`, `"version":2`, 1)
				v2 = strings.Replace(v2, `,"hosts":[{"host":"127.0.0.1","n":2,"since":1735689600}]`, "", 1)
				if err := os.WriteFile(path, []byte(v2), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(tc.down)
			after := New(opts)
			res, err := after.Restore(path)
			if err != nil {
				t.Fatal(err)
			}
			if res != tc.wantRes {
				t.Errorf("Restore: %+v, want %+v", res, tc.wantRes)
			}
			after.AddPeer(ih, loopback(6881), true) // the seeder registers after Restore
			completeAt(t, after, ih, 7004)
			if got := completedOf(t, after, ih); got != tc.wantAfter {
				t.Errorf("after one more download from 127.0.0.1: %d completed, want %d", got, tc.wantAfter)
			}
		})
	}
}

// TestRestoreDamagedHosts: a hosts list that is not what Save writes
// refuses the file, naming the line, the torrent and what is wrong.
func TestRestoreDamagedHosts(t *testing.T) {
	header := `{"format":"distpac tracker peers","version":3,"saved":1735689600,"swarms":1}`
	line := func(completed, hosts string) string {
		return header + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","completed":` + completed + `,"hosts":[` + hosts + `]}` + "\n"
	}
	five := strings.Repeat(`{"host":"10.0.0.1","n":1,"since":1735689600},`, 4) + `{"host":"10.0.0.5","n":1,"since":1735689600}`
	tests := []struct{ name, content, want string }{
		{"hosts in a version 2 file", strings.Replace(line("1", `{"host":"10.0.0.1","n":1,"since":1735689600}`), `"version":3`, `"version":2`, 1), "hosts in a version 2 file"},
		{"hosts without a count", strings.Replace(line("0", `{"host":"10.0.0.1","n":1,"since":1735689600}`), `"completed":0,`, `"peers":[{"addr":"10.0.0.1:7001","seen":1735689600}],"completed":0,`, 1), "hosts without a completed count"},
		{"more hosts than MaxPeersPerTorrent", line("9", five), "5 hosts, more than 4"},
		{"not an address", line("1", `{"host":"example.org","n":1,"since":1735689600}`), "host 1: ParseAddr"},
		{"an IPv6 address, not its /64", line("1", `{"host":"2001:db8::1","n":1,"since":1735689600}`), "2001:db8::1 is no host"},
		{"a mapped IPv4 address", line("1", `{"host":"::ffff:10.0.0.1","n":1,"since":1735689600}`), "is no host"},
		{"a host twice", line("2", `{"host":"10.0.0.1","n":1,"since":1735689600},{"host":"10.0.0.1","n":1,"since":1735689600}`), "host 10.0.0.1 listed twice"},
		{"n 0", line("1", `{"host":"10.0.0.1","n":0,"since":1735689600}`), "n 0, want 1 to"},
		{"no since", line("1", `{"host":"10.0.0.1","n":1}`), "since 0 is no time"},
		{"since past 2106", line("1", `{"host":"10.0.0.1","n":1,"since":4294967296}`), "since 4294967296 is no time"},
		{"unknown host key", line("1", `{"host":"10.0.0.1","n":1,"since":1,"port":7001}`), `unknown field "port"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			tr := New(Options{Now: newFakeClock().Now, MaxTorrents: 2, MaxPeersPerTorrent: 4})
			res, err := tr.Restore(path)
			if err == nil || !strings.Contains(err.Error(), "line 2: info hash ff0101") && tc.name != "unknown host key" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Restore: %+v, %v; want an error saying %q", res, err, tc.want)
			}
			if c := completedOf(t, tr, infoHash(1)); c != 0 {
				t.Errorf("a refused file restored a count of %d", c)
			}
		})
	}
}

// hostsOf is the hosts' windows the tracker holds for ih.
func hostsOf(tr *Tracker, ih [20]byte) map[netip.Addr]hostDownloads {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if c := tr.tallies[ih]; c != nil {
		return maps.Clone(c.hosts)
	}
	return nil
}

// TestRestoreMergeKeepsHostBound: hosts counted between New and Restore
// and the file's are merged under MaxPeersPerTorrent, the bound
// countDownload keeps and Restore holds a line to. Before, the merge kept
// both, Save wrote them all, and the next start refused the whole file
// ("4 hosts, more than 2"): every peer and count lost.
func TestRestoreMergeKeepsHostBound(t *testing.T) {
	ih := infoHash(1)
	clock := newFakeClock()
	opts := Options{Now: clock.Now, MaxPeersPerTorrent: 2, MaxPeersPerIP: 2}
	path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
	since := clock.Now().Unix()
	file := fmt.Sprintf(`{"format":"distpac tracker peers","version":3,"saved":%d,"swarms":1}`+"\n"+
		`{"info_hash":"%x","completed":2,"hosts":[{"host":"10.0.0.1","n":1,"since":%d},{"host":"10.0.0.2","n":1,"since":%d}]}`+"\n", since, ih, since, since)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := New(opts)
	tr.AddPeer(ih, loopback(6881), true)
	tr.mu.Lock()
	for _, h := range []string{"10.0.0.3", "10.0.0.4"} {
		tr.tallyLocked(ih).countDownload(netip.MustParseAddr(h), clock.Now(), opts.MaxPeersPerIP, opts.MaxPeersPerTorrent)
	}
	tr.mu.Unlock()
	if _, err := tr.Restore(path); err != nil {
		t.Fatal(err)
	}
	if n := len(hostsOf(tr, ih)); n > opts.MaxPeersPerTorrent {
		t.Errorf("after Restore: %d hosts, more than MaxPeersPerTorrent %d", n, opts.MaxPeersPerTorrent)
	}
	if _, err := tr.Save(path); err != nil {
		t.Fatal(err)
	}
	again := New(opts)
	res, err := again.Restore(path)
	if err != nil {
		t.Fatalf("the next start: %v", err)
	}
	if got := completedOf(t, again, ih); got != 4 || res.Counts != 1 {
		t.Errorf("the next start: %d completed, %+v; want 4, one count", got, res)
	}
}

// TestRestoreCountsOnlyCounts: Restored.Counts (the start's
// completed_counts) counts the lines that gave a torrent a count. A line
// of peers alone, over MaxTorrents, for a torrent whose tally was kept
// without a swarm, was counted as one.
func TestRestoreCountsOnlyCounts(t *testing.T) {
	ih := infoHash(1)
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "tracker-peers.jsonl")
	now := clock.Now().Unix()
	file := fmt.Sprintf(`{"format":"distpac tracker peers","version":3,"saved":%d,"swarms":1}`+"\n"+
		`{"info_hash":"%x","peers":[{"addr":"10.0.0.1:7001","seen":%d}]}`+"\n", now, ih, now)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := New(Options{Now: clock.Now, MaxTorrents: 1})
	tr.AddPeer(infoHash(2), loopback(6881), true) // the table is full
	tr.mu.Lock()
	tr.keepIdleLocked(ih, &tally{completed: 5})
	tr.mu.Unlock()
	res, err := tr.Restore(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Restored{Over: 1}); res != want {
		t.Errorf("Restore: %+v, want %+v", res, want)
	}
	if got := completedOf(t, tr, ih); got != 5 {
		t.Errorf("%d completed, want the 5 kept", got)
	}
}
