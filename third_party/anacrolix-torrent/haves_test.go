package torrent

import (
	"testing"
	"time"
	"weak"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// TestHaveUpdatesOnlyForNewRequests: a have of a wanted piece from a peer whose queue has room
// runs a request update only if the piece has a chunk not yet received that no peer has been
// asked for, or in the endgame (patch 9).
func TestHaveUpdatesOnlyForNewRequests(t *testing.T) {
	const pieces = 20
	const pieceLength = 64 << 10 // 4 chunks
	info := metainfo.Info{Name: "haves", PieceLength: pieceLength, Length: pieces * pieceLength, Pieces: make([]byte, 20*pieces)}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	const piece = 18
	tests := []struct {
		name      string
		requested []int // chunks of the piece asked of another peer
		dirty     []int // chunks of the piece received
		endgame   bool
		want      bool
	}{
		{"nothing asked for", nil, nil, false, true},
		{"every chunk asked of another peer", []int{0, 1, 2, 3}, nil, false, false},
		{"the rest received", []int{0, 1}, []int{2, 3}, false, false},
		{"one chunk free", []int{0, 1, 3}, nil, false, true},
		{"every chunk asked for, endgame", []int{0, 1, 2, 3}, nil, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := NewClient(TestingConfig(t))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			tor, _ := cl.AddTorrentOpt(AddTorrentOpts{
				InfoHash:  metainfo.HashBytes(infoBytes),
				InfoBytes: infoBytes,
				Storage:   emptyStorage{},
			})
			tor.DownloadAll()
			cl.lock()
			defer cl.unlock()
			p := cl.newConnection(nil, newConnectionOpts{network: "test"})
			p.setTorrent(tor)
			q := cl.newConnection(nil, newConnectionOpts{network: "test"})
			q.setTorrent(tor)
			p.requestState.Interested = true
			begin := tor.pieceRequestIndexBegin(piece)
			for _, c := range tt.requested {
				r := begin + RequestIndex(c)
				tor.requestState[r] = requestState{peer: weak.Make(q), when: time.Now()}
				q.requestState.Requests.Add(r)
			}
			for _, c := range tt.dirty {
				tor.dirtyChunks.Add(begin + RequestIndex(c))
			}
			if tt.endgame {
				tor._completedPieces.AddRange(0, pieces-endgamePieces)
			}
			if err := p.peerSentHave(piece); err != nil {
				t.Fatal(err)
			}
			reason := p.needRequestUpdate
			// Undo what the engine would have counted itself, which its close checks.
			p.needRequestUpdate = ""
			clear(tor.requestState)
			tor._completedPieces.Clear()
			tor.decPieceAvailability(piece)
			if got := reason != ""; got != tt.want {
				t.Errorf("request update %v (reason %q), want %v", got, reason, tt.want)
			}
		})
	}
}
