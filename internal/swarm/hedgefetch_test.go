package swarm

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// rangeIgnoringSeed serves data as a web seed that ignores Range: every
// GET is answered 200 with the whole file, as a plain static server
// without range support does. sent counts the bytes it wrote.
func rangeIgnoringSeed(t *testing.T, data []byte, sent *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		for off := 0; off < len(data); off += 16 << 10 {
			n, err := w.Write(data[off:min(off+16<<10, len(data))])
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hedgeEngine is an engine holding the torrent of a random file of size
// bytes (nothing of it downloaded), with the file's bytes and the seeds
// named in the torrent.
func hedgeEngine(t *testing.T, size int) (*Engine, *torrent.Torrent, []byte, func(seed string) []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, size)
	build := func(seed string) []byte {
		meta, err := torrentmeta.Build(path, "", seed)
		if err != nil {
			t.Fatal(err)
		}
		return meta.Torrent
	}
	e := newEngine(t, t.TempDir(), 0)
	tt, err := e.add(build(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, tt, data, build
}

// awaitFetch waits (at most 30 s) for f to end.
func awaitFetch(t *testing.T, f *webFetch) {
	t.Helper()
	if f == nil {
		t.Fatal("the fetch did not start")
	}
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the fetch did not end in 30 s")
	}
}

// pieceVerified waits (at most 10 s) for piece i of tt to be complete: a
// fetch ends once its bytes are written, and the library hashes the
// piece after, later on a loaded machine (the race detector's run of
// the whole package found it not complete yet).
func pieceVerified(tt *torrent.Torrent, i int) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if tt.Piece(i).State().Complete {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// TestHedgeFromRangeIgnoringSeed: a hedge asks one piece of a seed that
// ignores Range and answers 200 with the whole file. It read the whole
// file, writing every missing piece of it (16 of 16 pieces here), and
// held the seed's connection that long; now it reads up to its piece and
// stops there, as it wants nothing more (the pieces it passes on the way
// are taken as a fetch of every missing piece takes them).
func TestHedgeFromRangeIgnoringSeed(t *testing.T) {
	e, tt, data, _ := hedgeEngine(t, 1<<20)
	var sent atomic.Int64
	srv := rangeIgnoringSeed(t, data, &sent)
	const piece = 2
	f := e.launchFetch(tt, e.hedges, &webFetch{seed: MirrorSeed(srv.URL), label: webLabel(false), floor: true, only: piece})
	awaitFetch(t, f)
	if f.err != nil {
		t.Fatalf("the hedge failed: %v", f.err)
	}
	if !pieceVerified(tt, piece) {
		t.Fatalf("piece %d not complete after its hedge", piece)
	}
	var after []int
	for i := piece + 1; i < tt.NumPieces(); i++ {
		if tt.Piece(i).State().Complete {
			after = append(after, i)
		}
	}
	if len(after) > 0 {
		t.Errorf("a hedge for piece %d of %d read on past it: pieces %v written too (the server sent %d of %d bytes)",
			piece, tt.NumPieces(), after, sent.Load(), len(data))
	}
}

// TestHedgeSuccessKeepsOthersErrors: a hedge that brought its piece
// cleared every web-seed failure of the torrent, the primary's
// "outpaced" among them when the primary's end was recorded first; with
// no failure left, the download did not hand over to the next seed at
// once (failedOver) but waited webSeedAfter. A hedge's success clears
// its own seed's failure only.
func TestHedgeSuccessKeepsOthersErrors(t *testing.T) {
	e, tt, data, _ := hedgeEngine(t, 1<<20)
	good := tricklingSeed(t, data, 64<<10, func(int64) bool { return false }, 0, 0)
	slow, hedge := MirrorSeed("http://127.0.0.1:1"), MirrorSeed(good.URL)
	ih := tt.InfoHash()
	outpaced := &webSeedOutpaced{piece: 2, held: 3 * time.Second, by: hedge}
	e.mu.Lock()
	e.webErrs[ih] = e.webErrs[ih].with(hedge, errors.New("HTTP 503 Service Unavailable")).with(slow, outpaced)
	e.mu.Unlock()
	f := e.launchFetch(tt, e.hedges, &webFetch{seed: hedge, label: webLabel(false), floor: true, only: 2})
	awaitFetch(t, f)
	if f.err != nil || !pieceVerified(tt, 2) {
		t.Fatalf("the hedge: %v, piece 2 complete %v; want it brought", f.err, tt.Piece(2).State().Complete)
	}
	_, failed := e.webSeedState(ih)
	errs, _ := failed.(seedErrors)
	if len(errs) != 1 || errs[0].seed != slow || !errors.Is(errs[0].err, outpaced) {
		t.Errorf("after the hedge's success the failures are %v; want only the outpaced primary's", failed)
	}
	if !failedOver(time.Now(), false, failed, 1, 3) {
		t.Errorf("the download does not hand over at once after its primary was outpaced (failures: %v)", failed)
	}
}
