package swarm

import (
	"context"
	"testing"
	"time"
)

// TestSwarmNoBadPieces: clients that download from a publisher and from
// each other at once receive no piece that fails its hash. A package whose
// size is not a whole number of chunks puts a short chunk's buffer into the
// pool that the receive path and, since third_party patch 15, the upload
// path share; an upload that took it served a short chunk, which the
// receiver wrote as the whole chunk: its piece failed the hash and the
// sender was banned, the publisher among them (bench-swarm clients then
// stalled, "no source").
func TestSwarmNoBadPieces(t *testing.T) {
	const size = 4<<20 + 5
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	publisher, torrent := cappedPublisher(t, ctx, size)
	clients := swarmDownload(t, ctx, []*Engine{publisher}, torrent, 6, 2<<20)
	for i, c := range clients {
		for _, tt := range c.cl.Torrents() {
			st := tt.Stats()
			if bad := st.PiecesDirtiedBad.Int64(); bad > 0 {
				t.Errorf("client %d: %d pieces failed their hash", i, bad)
			}
		}
	}
}
