package tracker

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// FuzzAnnounceQuery feeds arbitrary query strings to the announce and scrape
// handlers: they must never panic, must answer 200 with a bencoded dict or a
// 4xx, and the store must stay within its limits.
func FuzzAnnounceQuery(f *testing.F) {
	ih := infoHash(1)
	f.Add("info_hash=" + escape(ih[:]) + "&peer_id=-DP0001-000000007001&port=7001&left=0&event=started&compact=1")
	f.Add("info_hash=" + escape(ih[:]) + "&peer_id=-DP0001-000000007001&port=0&left=-1&event=stopped&numwant=99999")
	f.Add("info_hash=short&peer_id=x")
	f.Add("event=paused")
	f.Add("info_hash=" + escape(ih[:]) + "&info_hash=%00&peer_id=-DP0001-000000007001&port=65536&numwant=-1")
	f.Fuzz(func(t *testing.T, query string) {
		clock := newFakeClock()
		tr := New(Options{MaxTorrents: 2, MaxPeersPerTorrent: 2, Now: clock.Now})
		h := tr.Handler()
		for _, path := range []string{"/announce?", "/scrape?", "/announce?", "/announce?"} {
			req := httptest.NewRequest("GET", "/", nil)
			req.URL.RawQuery = query
			req.URL.Path = strings.TrimSuffix(path, "?")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch {
			case rec.Code == http.StatusOK:
				var v map[string]any
				if err := bencode.Unmarshal(rec.Body.Bytes(), &v); err != nil {
					t.Fatalf("%s: 200 with a body that is no bencoded dict: %q: %v", path, rec.Body.Bytes(), err)
				}
			case rec.Code >= 400 && rec.Code < 500:
			default:
				t.Fatalf("%s: status %d: %q", path, rec.Code, rec.Body.Bytes())
			}
			clock.Advance(time.Minute)
		}
		if st := tr.Stats(); st.Torrents > 2 || st.Peers > 4 {
			t.Fatalf("limits broken: %+v", st)
		}
	})
}

func escape(b []byte) string {
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte('%')
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&15])
	}
	return sb.String()
}

// FuzzRestore feeds arbitrary files to Restore: it must never panic; a
// file it refuses restores nothing and the error is ErrPeersFile; a file
// it takes keeps the tracker within its bounds and its whitelist, writes
// back (Save) what restores the same peers, completed counts and hosts'
// windows (none ended, none over MaxPeersPerIP), and restores no peer
// that outlives PeerTTL. The file is gone either way.
func FuzzRestore(f *testing.F) {
	f.Add([]byte(goodHeader + "\n" + goodSwarm + "\n"))
	f.Add([]byte(strings.Replace(goodHeader, `"swarms":1`, `"swarms":2`, 1) + "\n" + goodSwarm + "\n" +
		`{"info_hash":"ff02020202020202020202020202020202020202","peers":[{"addr":"[2001:db8::1]:7001","seeder":false,"seen":1735689590}]}` + "\n"))
	f.Add([]byte(goodHeader + "\n" + goodSwarm[:70]))
	f.Add([]byte(goodHeader + "\n" + swarmLine(`{"addr":"[::ffff:127.0.0.1]:7001","seen":99999999999}`, `{"addr":"127.0.0.1:7002","seen":1}`) + "\n"))
	f.Add([]byte(""))
	f.Add([]byte(goodHeaderV2 + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","completed":7}` + "\n"))
	f.Add([]byte(strings.Replace(goodHeaderV2, `"swarms":1`, `"swarms":3`, 1) + "\n" +
		`{"info_hash":"ff01010101010101010101010101010101010101","peers":[{"addr":"127.0.0.1:7001","seeder":true,"seen":1735689600}],"completed":2147483647}` + "\n" +
		`{"info_hash":"ff02020202020202020202020202020202020202","completed":3}` + "\n" +
		`{"info_hash":"0303030303030303030303030303030303030303","completed":9}` + "\n"))
	f.Add([]byte(goodHeaderV2 + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","completed":-4}` + "\n"))
	v3 := strings.Replace(goodHeaderV2, `"version":2`, `"version":3`, 1)
	f.Add([]byte(strings.Replace(v3, `"swarms":1`, `"swarms":2`, 1) + "\n" +
		`{"info_hash":"ff01010101010101010101010101010101010101","peers":[{"addr":"127.0.0.1:7001","seeder":true,"seen":1735689600}],"completed":5,"hosts":[{"host":"127.0.0.1","n":3,"since":1735689000},{"host":"2001:db8:0:1::","n":9,"since":1735600000}]}` + "\n" +
		`{"info_hash":"ff02020202020202020202020202020202020202","completed":2,"hosts":[{"host":"10.0.0.1","n":1,"since":1735000000},{"host":"10.0.0.2","n":2,"since":99999999999}]}` + "\n"))
	f.Add([]byte(v3 + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","completed":1,"hosts":[{"host":"2001:db8::1","n":1,"since":1735689600}]}` + "\n"))
	f.Add([]byte(goodHeaderV2 + "\n" + `{"info_hash":"ff01010101010101010101010101010101010101","completed":1,"hosts":[{"host":"10.0.0.1","n":1,"since":1735689600}]}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		clock := newFakeClock()
		dir := t.TempDir()
		path := filepath.Join(dir, "peers")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		allowed := [][20]byte{infoHash(1), infoHash(2)}
		opts := Options{Now: clock.Now, MaxTorrents: 2, MaxPeersPerTorrent: 4, MaxPeersPerIP: 3, Allowed: allowOnly(allowed...)}
		tr := New(opts)
		res, err := tr.Restore(path)
		if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
			t.Fatalf("the file is still there after Restore (%v)", serr)
		}
		st := tr.Stats()
		if err != nil {
			if !errors.Is(err, ErrPeersFile) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v: not ErrPeersFile naming the file", err)
			}
			if st.Peers != 0 || res != (Restored{}) {
				t.Fatalf("a refused file restored %+v (stats %+v)", res, st)
			}
			for _, ih := range allowed {
				if c := completedOf(t, tr, ih); c != 0 {
					t.Fatalf("a refused file restored a count of %d", c)
				}
			}
			return
		}
		if st.Torrents > 2 || st.Peers > 2*4 || st.Peers != res.Peers || res.Counts > 2 {
			t.Fatalf("restored %+v, tracker holds %+v: bounds broken", res, st)
		}
		held := 0
		for _, ih := range allowed {
			held += len(tr.Peers(ih))
		}
		if held != st.Peers {
			t.Fatalf("%d peers of served torrents, %d in all", held, st.Peers)
		}
		again := filepath.Join(dir, "again")
		n, err := tr.Save(again)
		if err != nil || n != st.Peers {
			t.Fatalf("Save: %d, %v; want %d", n, err, st.Peers)
		}
		tr2 := New(opts)
		if res2, err := tr2.Restore(again); err != nil || res2.Peers != n {
			t.Fatalf("what Save wrote restores %+v, %v; want %d peers", res2, err, n)
		}
		for _, ih := range allowed {
			if a, b := tr.Peers(ih), tr2.Peers(ih); !slices.Equal(a, b) {
				t.Fatalf("round trip: %v became %v", a, b)
			}
			if a, b := completedOf(t, tr, ih), completedOf(t, tr2, ih); a != b || a < 0 {
				t.Fatalf("round trip: completed %d became %d", a, b)
			}
			hosts := hostsOf(tr, ih)
			if b := hostsOf(tr2, ih); !maps.Equal(hosts, b) {
				t.Fatalf("round trip: hosts %v became %v", hosts, b)
			}
			if len(hosts) > 4 {
				t.Fatalf("%d hosts restored, more than MaxPeersPerTorrent", len(hosts))
			}
			for h, d := range hosts {
				if d.n < 1 || d.n > 3 || expired(d.since, uint32(clock.Now().Unix())) || d.since > uint32(clock.Now().Unix()) {
					t.Fatalf("host %s restored with %+v: over MaxPeersPerIP, or a window ended or not begun", h, d)
				}
			}
		}
		clock.Advance(tr.opts.PeerTTL)
		if st := tr.Stats(); st.Peers != 0 {
			t.Fatalf("%d restored peers outlived PeerTTL", st.Peers)
		}
	})
}
