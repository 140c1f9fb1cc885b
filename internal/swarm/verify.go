package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/distpac/distpac/internal/fsutil"
)

// verifyBuffers hold the piece buffers of verifyPayload between torrents:
// in a heap profile of a seeder starting with 1,000 small packages (bench
// -many), a buffer made for each was 43 MB of the 244 MB it allocated.
var verifyBuffers = sync.Pool{New: func() any { return new([]byte) }}

// verifyPayload checks the file a single-file torrent names in dir against
// every piece hash (verifyFile).
func verifyPayload(ctx context.Context, dir string, torrentBytes []byte) error {
	_, info, err := payloadInfo(torrentBytes)
	if err != nil {
		return err
	}
	_, err = verifyFile(ctx, filepath.Join(dir, info.Name), info)
	return err
}

// payloadInfo reads a torrent of one file with a plain name, the only kind
// distpac shares.
func payloadInfo(torrentBytes []byte) (*metainfo.MetaInfo, *metainfo.Info, error) {
	mi, err := metainfo.Load(bytes.NewReader(torrentBytes))
	if err != nil {
		return nil, nil, fmt.Errorf("swarm: torrent: %w", err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, nil, fmt.Errorf("swarm: torrent info: %w", err)
	}
	// The library names the file by name.utf-8 when present; distpac's
	// storage and cache go by name.
	if len(info.Files) != 0 || info.Name != filepath.Base(info.Name) || info.Name == "." || info.Name == ".." ||
		(info.NameUtf8 != "" && info.NameUtf8 != info.Name) {
		return nil, nil, fmt.Errorf("swarm: torrent %q: want a single file with a plain name", info.Name)
	}
	return mi, &info, nil
}

// verifyFile checks the file at path against info's piece hashes: its
// size, then each piece read once in order. It returns the file as it was
// before the first read.
func verifyFile(ctx context.Context, path string, info *metainfo.Info) (os.FileInfo, error) {
	f, err := fsutil.OpenRegular(path, true) // a FIFO would block the open
	if err != nil {
		return nil, fmt.Errorf("swarm: seed %s: %w", info.Name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("swarm: seed %s: %w", info.Name, err)
	}
	if st.Size() != info.Length {
		return nil, damagedFile{fmt.Errorf("swarm: seed %s: %s has %d bytes, the torrent %d", info.Name, path, st.Size(), info.Length)}
	}
	// Pieces are read straight into one buffer, made of the piece length
	// (64 KiB and up) or the file's if smaller: a seeder verifying 10,000
	// small archives at start allocated a 1 MiB reader for each. The
	// buffer is kept for the next torrent (verifyBuffers), so it may be
	// larger; every read takes the piece's length of it.
	r := f
	bp := verifyBuffers.Get().(*[]byte)
	defer verifyBuffers.Put(bp)
	if n := int(min(info.PieceLength, max(info.Length, 1))); cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := *bp
	for i := range info.NumPieces() {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p := info.Piece(i)
		b := buf[:p.Length()]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("swarm: seed %s: read piece %d: %w", info.Name, i, err)
		}
		verifiedBytes.Add(int64(len(b)))
		if sha1.Sum(b) != p.V1Hash().Unwrap() {
			return nil, damagedFile{fmt.Errorf("swarm: seed %s: piece %d of %s does not match its hash", info.Name, i, path)}
		}
	}
	return st, nil
}

// damagedFile is a verification error that says a file's bytes are not its
// torrent's (its size, or a piece's hash), not that it could not be read.
type damagedFile struct{ error }

func (d damagedFile) Unwrap() error { return d.error }

// IsDamaged reports whether err (of Seed, or a Damaged's) says the file's
// bytes are not its torrent's: an error reading it (too many open files,
// an I/O error) may pass, and is no reason to give the archive up.
func IsDamaged(err error) bool {
	var d damagedFile
	return errors.As(err, &d)
}
