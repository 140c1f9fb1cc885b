package tracker

import (
	"net/http"
	"net/http/httptest"
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
