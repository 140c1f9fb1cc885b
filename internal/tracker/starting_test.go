package tracker

import (
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestAnnounceBeforeKnown: while the tracker does not know yet which
// torrents it serves (Options.Known false: dist-server's first reload
// has not said), an announce Allowed refuses is answered as one of a
// swarm with no peers yet, with a short interval and min interval, and is
// neither recorded nor counted as refused; it was refused with "torrent
// is not served by this tracker", and announcers backed off for minutes.
// Once known, a torrent not served is refused.
func TestAnnounceBeforeKnown(t *testing.T) {
	served := infoHash(1)
	for _, tc := range []struct {
		name  string
		known bool
		// knownOnLook: the first reload ends while Allowed looks (it
		// says not served, from before; then known, and served).
		knownOnLook bool
		noKnown     bool // Options.Known not set
		ih          [20]byte
		wantFail    string
		wantIv      int
		wantMin     int
	}{
		{name: "not known yet", ih: infoHash(2), wantIv: int(StartingInterval / time.Second), wantMin: int(StartingInterval / time.Second)},
		{name: "served, not known yet", ih: served, wantIv: int(DefaultInterval / time.Second)},
		{name: "known, served", known: true, ih: served, wantIv: int(DefaultInterval / time.Second)},
		{name: "known, not served", known: true, ih: infoHash(2), wantFail: ErrNotServed.Error()},
		{name: "known while Allowed looked", knownOnLook: true, ih: served, wantIv: int(DefaultInterval / time.Second)},
		{name: "without Known, not served", noKnown: true, ih: infoHash(2), wantFail: ErrNotServed.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var known atomic.Bool
			known.Store(tc.known)
			looks := 0
			opts := Options{
				Allowed: func(ih [20]byte) bool {
					looks++
					if tc.knownOnLook && looks == 1 {
						known.Store(true)
						return false
					}
					return (known.Load() || !tc.knownOnLook) && ih == served
				},
				Known: known.Load,
			}
			if tc.noKnown {
				opts.Known = nil
			}
			tr := New(opts)
			srv := httptest.NewServer(tr.Handler())
			defer srv.Close()
			res := announce(t, srv.URL, announceParams{ih: tc.ih, port: 7001, left: 100})
			if res.FailureReason != tc.wantFail || res.Interval != tc.wantIv || res.MinInterval != tc.wantMin || res.Peers != "" {
				t.Errorf("reply %+v, want failure %q, interval %d, min interval %d, no peers", res, tc.wantFail, tc.wantIv, tc.wantMin)
			}
			tracked := tr.Stats().Peers
			switch {
			case tc.wantFail != "" || tc.wantMin != 0:
				if tracked != 0 {
					t.Errorf("%d peers tracked, want none", tracked)
				}
			case tracked != 1:
				t.Errorf("%d peers tracked, want the announcer", tracked)
			}
			if n := len(tr.Refused()); (n > 0) != (tc.wantFail != "") {
				t.Errorf("refusals counted: %v, want them only for a refusal", tr.Refused())
			}
		})
	}
}
