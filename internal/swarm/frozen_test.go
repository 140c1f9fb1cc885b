package swarm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// frozenSeeder is a fake publisher's seeder that freezes as a process
// stopped with SIGSTOP (or hung) does: the kernel still accepts its
// connections, and nothing answers them. Before it freezes it claims
// every piece and answers the first serve requests of its first
// connection; serve 0 is frozen from the start. A connection it accepts
// once frozen gets no BitTorrent handshake, and one it served gets no
// more answers; the test's end closes them.
func frozenSeeder(t *testing.T, ih metainfo.Hash, data []byte, pieceLen int64, serve int) netip.AddrPort {
	p := listenTestPeer(t)
	var frozen atomic.Bool
	frozen.Store(serve == 0)
	var answered atomic.Int64
	p.serve(func(c net.Conn) {
		if frozen.Load() || !fakePeerHandshake(c, ih, "-XX0001-frozenseeder", true) {
			return // kept open, unanswered: closed with the listener
		}
		answerRequests(c, data, pieceLen, func() bool {
			if answered.Add(1) > int64(serve) {
				frozen.Store(true)
				select {} // frozen: the connection stays open, unanswered
			}
			return true
		})
	})
	return p.addr()
}

// TestFrozenSeederGivesUp: a download whose only source is a seeder that
// froze (dist-server stopped with SIGSTOP, or hung: its port accepts
// connections and nothing answers the BitTorrent handshake) fails with a
// NoSourceError that says so, in about the time a peer that withholds
// pieces takes (withholdGrace, then the give-up). The seeder was dialled
// again every directRedial, and each dial waited the library's handshake
// timeout (4 s) in the half-open state, which counted as a source being
// tried: the download never gave up, and dist-client's stall watchdog
// ended the install after two minutes, "no data received for 2m0s from
// any peer or web seed" (seen: five daemons' installs hung 100 s with the
// publisher SIGSTOPped, and went on when it was continued).
func TestFrozenSeederGivesUp(t *testing.T) {
	t.Parallel() // a waiting test (swarm_test.go)
	const size = 2 << 20
	meta, data, ih := randomArchive(t, size)
	pl := torrentmeta.PieceLength(size)
	for _, tc := range []struct {
		name  string
		serve int
	}{
		{"frozen from the start", 0},
		{"frozen mid-transfer", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			seeder := frozenSeeder(t, ih, data, pl, tc.serve)
			leecher := newEngine(t, t.TempDir(), 0)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			start := time.Now()
			var got atomic.Int64
			err := leecher.Download(ctx, meta.Torrent, []netip.AddrPort{seeder}, func(p Progress) { got.Store(p.Done) })
			took := time.Since(start)
			t.Logf("after %v, %d bytes: %v", took.Round(time.Millisecond), got.Load(), err)
			if tc.serve > 0 && got.Load() == 0 {
				t.Fatal("the seeder sent nothing before it froze")
			}
			var ns *NoSourceError
			if !errors.As(err, &ns) {
				t.Fatalf("download from a frozen seeder: %v after %v, want a NoSourceError", err, took.Round(time.Second))
			}
			// A restart (stallRestart) may come before the grace.
			if limit := stallRestart + withholdGrace + DefaultGiveUpAfter + 5*time.Second; took > limit {
				t.Errorf("gave up after %v, want within %v", took.Round(time.Millisecond), limit)
			}
			if msg := err.Error(); !strings.Contains(msg, seeder.String()) || strings.Contains(msg, "did not accept a connection") {
				t.Errorf("error:\n%s\nwant it to name %s, and not as a seeder that refused", msg, seeder)
			}
			// It says how long it waited, not the give-up time alone
			// ("in 8s" after 24 s): since the start when nothing came,
			// since the seeder froze (the 8 pieces take a moment) when
			// something did. The download returns about 2 s after it
			// gave up (dropping the torrent, its dials to the frozen
			// seeder pending): 3 s of slack.
			waited := fmt.Sprintf(" in %s: ", ns.Idle.Round(time.Second))
			if tc.serve > 0 {
				waited = fmt.Sprintf(": nothing received for %s: ", ns.Idle.Round(time.Second))
			}
			if ns.Idle < took-3*time.Second || ns.Idle > took || ns.Received != (tc.serve > 0) || !strings.Contains(err.Error(), waited) {
				t.Errorf("error after %v:\n%s\nwant it to say %q, within 3 s of the wait", took.Round(time.Millisecond), err, waited)
			}
		})
	}
}
