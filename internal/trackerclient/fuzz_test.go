package trackerclient

import (
	"testing"
)

// FuzzParseAnnounce feeds arbitrary replies to the announce decoder: it
// must return a response or an error, never panic, and never hand out more
// than MaxPeers usable peers.
func FuzzParseAnnounce(f *testing.F) {
	for _, s := range []string{
		"d8:intervali30e5:peerslleee",
		"d8:intervali30e5:peers6:\x7f\x00\x00\x01\x1a\xe1e",
		"d8:completei3e10:incompletei1e8:intervali1800e5:peersld2:ip9:127.0.0.14:porti6881eeee",
		"d14:failure reason12:unregisterede",
		"d6:peers618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
		"d5:extrallllleeeeee",
		"i-0e",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParseAnnounce(b)
		if err != nil {
			return
		}
		if len(res.Peers) > MaxPeers {
			t.Fatalf("%d peers", len(res.Peers))
		}
		for _, p := range res.Peers {
			if !usable(p) {
				t.Fatalf("unusable peer %v", p)
			}
		}
		if res.Interval < MinInterval || res.Interval > MaxInterval {
			t.Fatalf("interval %v", res.Interval)
		}
	})
}

// FuzzParseScrape does the same for scrape replies.
func FuzzParseScrape(f *testing.F) {
	f.Add([]byte("d5:filesd20:AAAAAAAAAAAAAAAAAAAAd8:completei2e10:downloadedi5e10:incompletei1eeee"))
	f.Add([]byte("d5:filesdee"))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParseScrape(b)
		if err != nil {
			return
		}
		for _, r := range res {
			if r.Seeders < 0 || r.Leechers < 0 || r.Completed < 0 {
				t.Fatalf("negative count %+v", r)
			}
		}
	})
}
