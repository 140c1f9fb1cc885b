package swarm

import (
	"testing"
	"time"
)

// TestStallErrorSaysWhatCameOnce: a stall's error says what came in its
// window and what each source did, without contradicting itself: bytes a
// web seed sent again are no progress, so what was received is "new"
// data where there were some. It said "no data received for 6s" beside
// "web seed … sent 120.0 KiB, all of it again" (a review).
func TestStallErrorSaysWhatCameOnce(t *testing.T) {
	seed := func(sent, again int64) Sources {
		return Sources{WebSeeds: []SeedActivity{{Seed: "http://h/packages/", URL: "http://h/packages/a.tar.zst", Asked: 2, Sent: sent, Again: again}}}
	}
	for _, tc := range []struct {
		name     string
		received int64
		known    bool
		window   Sources
		want     string
	}{
		{"nothing at all", 0, true, seed(0, 0),
			"no data received for 6s from any peer or web seed: web seed http://h/packages/a.tar.zst sent nothing; no peer connected"},
		{"bytes sent again only", 0, true, seed(120<<10, 120<<10),
			"no new data received for 6s from any peer or web seed: web seed http://h/packages/a.tar.zst sent 120.0 KiB, all of it again" + againMeans + "; no peer connected"},
		{"a few new bytes among those sent again", 4 << 10, true, seed(120<<10, 116<<10),
			"only 4.0 KiB of new data received in 6s from all peers and web seeds, under 1.0 KiB/s: web seed http://h/packages/a.tar.zst sent 120.0 KiB, 116.0 KiB of it again" + againMeans + "; no peer connected"},
		{"a drip", 121, true, seed(121, 0),
			"only 121 B received in 6s from all peers and web seeds, under 1.0 KiB/s: web seed http://h/packages/a.tar.zst sent 121 B; no peer connected"},
		{"sources not known", 0, false, Sources{}, "no data received for 6s from any peer or web seed"},
	} {
		got := (&StallError{After: 6 * time.Second, Rate: 1024, Received: tc.received, Known: tc.known, Window: tc.window}).Error()
		if got != tc.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, got, tc.want)
		}
	}
}
