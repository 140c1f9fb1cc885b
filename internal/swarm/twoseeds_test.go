package swarm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPublisherAndMirrorSplitThePieces: a capped publisher and a mirror
// capped the same (dist-server mirror) serve eight clients of twice their
// rate, who also trade with each other: each seed sends about half the
// package, and the two together little more than F (third_party patch 47).
// Both gave pieces out from the first up, so each sent the pieces the
// other had just sent: together they sent 1.45-1.96 F in 3.0-3.7 s (the
// publisher alone 4.1-4.2 s, F/U 4 s), and as long as the clients traded
// among themselves they asked neither seed for anything the other had
// (every piece: 13-23 s in 2 of 8 runs once the mirror gave its pieces
// from the end). Now the mirror gives its pieces out from the last one
// down, and a scarce seed is not another peer that has a piece: 1.00-1.06
// F in 2.03-2.26 s, for a bound of 2 s. As in TestPublisherAssignsPieces,
// a swarm over the bound gets one more try.
func TestPublisherAndMirrorSplitThePieces(t *testing.T) {
	const size = 8 << 20
	var sent []string
	for range 2 {
		ups := func() []float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			publisher, torrent := cappedSeed(t, ctx, size, false)
			mirror, _ := cappedSeed(t, ctx, size, true)
			swarmDownload(t, ctx, []*Engine{publisher, mirror}, torrent, 8, 4<<20)
			return []float64{float64(publisher.Stats().Uploaded) / size, float64(mirror.Stats().Uploaded) / size}
		}()
		t.Logf("publisher sent %.3f F, the mirror %.3f F", ups[0], ups[1])
		if ups[0]+ups[1] <= 1.3 && min(ups[0], ups[1]) >= 0.3 {
			return
		}
		sent = append(sent, fmt.Sprintf("%.3f F and %.3f F", ups[0], ups[1]))
	}
	t.Errorf("the publisher and the mirror sent %s for a %d-byte package in two swarms in a row (want at most 1.3 F together, at least 0.3 F each): they sent the same pieces", strings.Join(sent, ", then "), size)
}
