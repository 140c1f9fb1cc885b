package trackerclient

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestParseAnnounce(t *testing.T) {
	compact := "\x7f\x00\x00\x01\x1a\xe1" + "\x0a\x00\x00\x02\x00\x50"
	tests := []struct {
		name    string
		reply   string
		peers   []netip.AddrPort
		intv    time.Duration
		seeders int
		errText string // substring of the error; empty means success
	}{
		{name: "compact", reply: "d8:intervali30e5:peers12:" + compact + "e",
			peers: []netip.AddrPort{ap("127.0.0.1:6881"), ap("10.0.0.2:80")}, intv: 30 * time.Second, seeders: -1},
		{name: "dictionary model", reply: "d8:completei3e10:incompletei1e8:intervali1800e5:peersld2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881eeee",
			peers: []netip.AddrPort{ap("127.0.0.1:6881")}, intv: 1800 * time.Second, seeders: 3},
		{name: "peers6", reply: "d8:intervali60e6:peers618:" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1" + "e",
			peers: []netip.AddrPort{ap("[::1]:6881")}, intv: 60 * time.Second, seeders: -1},
		{name: "interval clamped low", reply: "d8:intervali0e5:peers0:e", intv: MinInterval, seeders: -1},
		{name: "interval clamped high", reply: "d8:intervali99999999999e5:peers0:e", intv: MaxInterval, seeders: -1},
		{name: "unknown keys skipped", reply: "d5:extrald1:ali1eeee8:intervali30e5:peers0:e", intv: 30 * time.Second, seeders: -1},
		{name: "unusable peers dropped", reply: "d5:peers18:" + "\x00\x00\x00\x00\x1a\xe1" + "\x7f\x00\x00\x01\x00\x00" + "\x7f\x00\x00\x01\x1a\xe1" + "e",
			peers: []netip.AddrPort{ap("127.0.0.1:6881")}, intv: MinInterval, seeders: -1},
		{name: "duplicates dropped", reply: "d5:peers12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x1a\xe1e",
			peers: []netip.AddrPort{ap("127.0.0.1:6881")}, intv: MinInterval, seeders: -1},
		{name: "host names not resolved", reply: "d5:peersld2:ip9:localhost4:porti1eeee", intv: MinInterval, seeders: -1},
		// The reply that crashed every node through the library's client.
		{name: "peer entry is a list", reply: "d8:intervali30e5:peerslleee", errText: `"peers": peer 0: at byte 23: want a dictionary, found a list`},
		{name: "failure reason", reply: "d14:failure reason12:unregisterede", errText: `refused: "unregistered"`},
		{name: "interval is a string", reply: "d8:interval2:30e", errText: `"interval": at byte 11: want an integer, found a string`},
		{name: "compact length wrong", reply: "d5:peers5:abcdee", errText: "not a multiple of 6"},
		{name: "not a dictionary", reply: "li1ee", errText: "want a dictionary, found a list"},
		{name: "empty", reply: "", errText: "want a dictionary, found nothing"},
		{name: "truncated", reply: "d8:intervali30e5:peers12:abc", errText: "reply ends early"},
		{name: "trailing bytes", reply: "d5:peers0:eXYZ", errText: "3 bytes after the dictionary"},
		{name: "leading zero", reply: "d8:intervali030ee", errText: "malformed integer"},
		{name: "huge string length", reply: "d5:peers9999999999999:e", errText: "string length too long"},
		{name: "deep nesting", reply: "d5:extra" + strings.Repeat("l", 10000) + strings.Repeat("e", 10000) + "e", errText: "nested deeper than 32"},
		{name: "port out of range dropped", reply: "d5:peersld2:ip8:10.0.0.14:porti70000eeee", intv: MinInterval, seeders: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ParseAnnounce([]byte(tc.reply))
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Peers) != len(tc.peers) {
				t.Fatalf("peers = %v, want %v", res.Peers, tc.peers)
			}
			for i := range tc.peers {
				if res.Peers[i] != tc.peers[i] {
					t.Fatalf("peers = %v, want %v", res.Peers, tc.peers)
				}
			}
			if res.Interval != tc.intv || res.Seeders != tc.seeders {
				t.Fatalf("interval %v seeders %d, want %v %d", res.Interval, res.Seeders, tc.intv, tc.seeders)
			}
		})
	}
}

func TestParseAnnounceCapsPeers(t *testing.T) {
	var b strings.Builder
	b.WriteString("d5:peers60000:")
	for i := range 10000 {
		b.Write([]byte{10, byte(i >> 16), byte(i >> 8), byte(i), 0x1a, 0xe1})
	}
	b.WriteString("e")
	res, err := ParseAnnounce([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Peers) != MaxPeers {
		t.Fatalf("took %d peers, want the cap %d", len(res.Peers), MaxPeers)
	}
}

func TestParseScrape(t *testing.T) {
	ih := strings.Repeat("A", 20)
	res, err := ParseScrape([]byte("d5:filesd20:" + ih + "d8:completei2e10:downloadedi5e10:incompletei1eeee"))
	if err != nil {
		t.Fatal(err)
	}
	got := res[[20]byte([]byte(ih))]
	if got != (ScrapeResult{Seeders: 2, Leechers: 1, Completed: 5}) {
		t.Fatalf("got %+v", got)
	}
	for _, bad := range []string{"d5:filesd3:abcdeee", "d5:filesli1eee", "d5:filesd20:" + ih + "d8:complete1:xeee"} {
		if _, err := ParseScrape([]byte(bad)); err == nil {
			t.Errorf("ParseScrape(%q) succeeded", bad)
		}
	}
}

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://t.example/announce":       "http://t.example/scrape",
		"http://t.example/x/announce.php": "http://t.example/x/scrape.php",
		"http://t.example/announce?key=1": "http://t.example/scrape?key=1",
		"http://t.example/a":              "",
		"http://t.example/announce/extra": "",
		"https://t.example:8443/announce": "https://t.example:8443/scrape",
	} {
		got, ok := ScrapeURL(in)
		if want == "" && ok || want != "" && got != want {
			t.Errorf("ScrapeURL(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

// TestAnnounceHostileTrackers runs Announce against real HTTP servers
// that misbehave: each ends in an error naming the tracker, quickly, with
// bounded memory.
func TestAnnounceHostileTrackers(t *testing.T) {
	endless := func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d5:peers999999999:"))
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1<<14; i++ { // at most 1 GiB; the client stops far sooner
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		errText string
	}{
		{"endless body", endless, "over the 1048576-byte limit"},
		{"declared huge", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5000000")
			w.Write([]byte("d"))
		}, "reply of 5000000 bytes"},
		{"deep nesting", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d5:extra" + strings.Repeat("l", 1<<20-20)))
		}, "nested deeper than 32"},
		{"bad type", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d8:intervali30e5:peerslleee"))
		}, "want a dictionary, found a list"},
		{"HTTP error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", http.StatusForbidden)
		}, "HTTP 403 Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := &Client{}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.Announce(ctx, srv.URL+"/announce", Request{Port: 1, NumWant: 50})
			if err == nil || !strings.Contains(err.Error(), tc.errText) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("err = %v, want one naming %s and %q", err, srv.URL, tc.errText)
			}
		})
	}
}

func TestAnnounceSendsRequest(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Write([]byte("d8:intervali45e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	}))
	defer srv.Close()
	req := Request{Port: 6881, Left: 10, Event: Started, NumWant: 50}
	copy(req.InfoHash[:], "01234567890123456789")
	res, err := (&Client{}).Announce(context.Background(), srv.URL+"/announce?passkey=x", req)
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	q := r.URL.Query()
	for k, want := range map[string]string{"info_hash": "01234567890123456789", "port": "6881", "left": "10", "event": "started", "numwant": "50", "compact": "1", "passkey": "x"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if res.Interval != 45*time.Second || len(res.Peers) != 1 {
		t.Fatalf("res = %+v", res)
	}
}

func TestAnnounceRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	start := time.Now()
	_, err := (&Client{}).Announce(context.Background(), addr+"/announce", Request{Port: 1})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("a refused connection took %v", time.Since(start))
	}
	var fe *FailureError
	if errors.As(err, &fe) {
		t.Fatal("a network error is not a tracker refusal")
	}
}

// TestScrapeBatches: opentracker answers the first 64 info hashes of a
// scrape and drops the rest silently, and the embedded tracker refuses
// more than 64; a dry run of 150 archives got counts for 64 of them (or
// none). Scrape asks in batches of MaxScrapeHashes.
func TestScrapeBatches(t *testing.T) {
	var requests, most int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ihs := r.URL.Query()["info_hash"]
		requests++
		most = max(most, len(ihs))
		var b strings.Builder
		b.WriteString("d5:filesd")
		for _, ih := range ihs[:min(len(ihs), 64)] { // opentracker's OT_MAXMULTISCRAPE_COUNT
			b.WriteString("20:" + ih + "d8:completei1e10:downloadedi0e10:incompletei0ee")
		}
		b.WriteString("ee")
		w.Write([]byte(b.String()))
	}))
	defer srv.Close()
	ihs := make([][20]byte, 150)
	for i := range ihs {
		ihs[i][0], ihs[i][19] = 'x', byte(i)
	}
	got, err := (&Client{}).Scrape(context.Background(), srv.URL+"/announce", ihs)
	if err != nil {
		t.Fatal(err)
	}
	for _, ih := range ihs {
		if got[ih].Seeders != 1 {
			t.Fatalf("%d of %d torrents answered, in %d requests of up to %d info hashes", len(got), len(ihs), requests, most)
		}
	}
	if requests != 3 || most != MaxScrapeHashes {
		t.Errorf("%d requests of up to %d info hashes, want 3 of up to %d", requests, most, MaxScrapeHashes)
	}
}

// A tracker that cannot be reached is named by its URL with the cause,
// not with the local address the announce was bound to: an install said
// "dial tcp 127.0.0.1:0->127.0.0.1:6969: connect: connection refused".
func TestUnreachableTrackerMessage(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	announce := srv.URL + "/announce"
	bound := &Client{HTTP: NewHTTPClient(netip.MustParseAddr("127.0.0.1"))}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"announce", func() error {
			_, err := (&Client{}).Announce(context.Background(), announce, Request{Port: 1})
			return err
		}, "tracker " + announce + ": dial tcp " + host + ": connect: connection refused"},
		{"announce from a local address", func() error {
			_, err := bound.Announce(context.Background(), announce, Request{Port: 1})
			return err
		}, "tracker " + announce + ": dial tcp " + host + ": connect: connection refused"},
		{"scrape from a local address", func() error {
			_, err := bound.Scrape(context.Background(), announce, [][20]byte{{1}})
			return err
		}, "tracker " + announce + ": scrape: dial tcp " + host + ": connect: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant  %s", err, tt.want)
			}
		})
	}
}
