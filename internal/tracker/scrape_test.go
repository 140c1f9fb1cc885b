package tracker

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
)

func TestScrape(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7001, event: "started", left: 10})
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7002, event: "started", left: 10})
	announce(t, srv.URL, announceParams{ih: infoHash(1), port: 7002, event: "completed", left: 0})
	tr.AddPeer(infoHash(2), loopback(6881), true)

	type counts struct {
		Complete   int `bencode:"complete"`
		Downloaded int `bencode:"downloaded"`
		Incomplete int `bencode:"incomplete"`
	}
	many := make([]byte, MaxScrapeHashes+1)
	for i := range many {
		many[i] = byte(i + 1)
	}
	tests := []struct {
		name    string
		query   []byte // info hashes, 0 = scrape all
		files   int    // in the reply
		want    map[byte]counts
		failure string // the failure reason wanted, instead of files
	}{
		{"one torrent", []byte{1}, 1, map[byte]counts{1: {1, 1, 1}}, ""},
		{"two torrents and an unknown one", []byte{1, 2, 3}, 3, map[byte]counts{1: {1, 1, 1}, 2: {1, 0, 0}, 3: {}}, ""},
		{"the most info hashes", many[:MaxScrapeHashes], MaxScrapeHashes, map[byte]counts{1: {1, 1, 1}, 2: {1, 0, 0}, 64: {}}, ""},
		{"one info hash too many", many, 0, nil, "scrape of 65 info_hash values: at most 64 a request"},
		{"full scrape", nil, 0, nil, "full scrape is not served"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for _, b := range tc.query {
				ih := infoHash(b)
				q.Add("info_hash", string(ih[:]))
			}
			resp, err := http.Get(srv.URL + "/scrape?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Files   map[string]counts `bencode:"files"`
				Failure string            `bencode:"failure reason"`
			}
			body, _ := io.ReadAll(resp.Body)
			if err := bencode.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s %q: %v", resp.Status, body, err)
			}
			if tc.failure != "" {
				if !strings.Contains(got.Failure, tc.failure) || got.Files != nil {
					t.Fatalf("reply %.200q, want only a failure reason with %q", body, tc.failure)
				}
				return
			}
			if got.Failure != "" {
				t.Fatalf("failure reason %q", got.Failure)
			}
			if len(got.Files) != tc.files {
				t.Errorf("%d files, want %d", len(got.Files), tc.files)
			}
			for b, want := range tc.want {
				ih := infoHash(b)
				if c := got.Files[string(ih[:])]; c != want {
					t.Errorf("torrent %d: %+v, want %+v", b, c, want)
				}
			}
		})
	}
}

// TestFullScrapeRefused: a scrape without info_hash answered with every
// torrent tracked, a reply that grows with the tracker and costs the asker
// one short request. It is refused now; its size is logged.
func TestFullScrapeRefused(t *testing.T) {
	tr := New(Options{})
	srv := httptest.NewServer(tr.Handler())
	defer srv.Close()
	for i := range 1548 { // the torrents of the attacker's run
		var ih [20]byte
		ih[0], ih[1] = byte(i>>8), byte(i)
		tr.AddPeer(ih, loopback(6881), true)
	}
	req := "GET /scrape HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\nConnection: close\r\n\r\n"
	resp, err := http.Get(srv.URL + "/scrape")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("figure: full scrape of 1548 torrents: a %d-byte request, a %d-byte reply body", len(req), len(body))
	var got map[string]any
	if err := bencode.Unmarshal(body, &got); err != nil || len(got) != 1 || got["failure reason"] == nil {
		t.Fatalf("full scrape answered %d bytes (%.100q), want only a failure reason", len(body), body)
	}
}

// TestScrapeBadInfoHashCut: a malformed info_hash was quoted whole into
// the failure reason, up to four bytes of reply for one of request.
func TestScrapeBadInfoHashCut(t *testing.T) {
	srv := httptest.NewServer(New(Options{}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/scrape?info_hash=" + strings.Repeat("%FF", 4000))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte("is not 20 bytes")) || len(body) > 200 {
		t.Fatalf("reply of %d bytes (%.100q), want a short failure reason", len(body), body)
	}
}
