package swarm

import (
	"errors"
	"io/fs"
	"os"

	"github.com/anacrolix/torrent"
)

// A download that stops incomplete (a failure, an interrupted install, a
// client gone from the daemon) leaves its .part file in the cache, and the
// next plan counts the file's allocated bytes as kept from it
// (fetch.PartBytes). But only the verified pieces are: the next download
// hashes the file again and fetches every other piece whole. A piece that
// failed its hash stays written until then: after a DamagedError (the
// publisher's copy sent four bad pieces) the file was whole, and the next
// plan said "0 B of 2.0 MiB (2.0 MiB kept from an interrupted download)"
// where a piece was bad. So the pieces not verified are made holes when
// the download is dropped (abandon), and the allocated bytes are the
// verified ones.

// unverifiedSpans returns the byte ranges of t's pieces that are not
// complete, contiguous ones merged.
func unverifiedSpans(t *torrent.Torrent) (spans [][2]int64) {
	info := t.Info()
	if info == nil {
		return nil
	}
	piece := 0
	for _, run := range t.PieceStateRuns() {
		if !run.Complete {
			off := int64(piece) * info.PieceLength
			end := min(int64(piece+run.Length)*info.PieceLength, info.TotalLength())
			if n := len(spans); n > 0 && spans[n-1][1] == off {
				spans[n-1][1] = end
			} else {
				spans = append(spans, [2]int64{off, end})
			}
		}
		piece += run.Length
	}
	return spans
}

// punchHoles frees the blocks of spans in the file at path, keeping its
// size. No file is nothing to do.
func punchHoles(path string, spans [][2]int64) error {
	if len(spans) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	for _, s := range spans {
		if err := punchHole(f, s[0], s[1]-s[0]); err != nil {
			return err
		}
	}
	return nil
}
