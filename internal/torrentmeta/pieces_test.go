package torrentmeta

import (
	"bytes"
	"context"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// tinyClasses is the piece length policy shrunk 16384 times, so tests can
// cross every class boundary with a few hundred KiB.
var tinyClasses = []class{
	{4 << 10, 4},
	{32 << 10, 16},
	{256 << 10, 64},
	{math.MaxInt64, 256},
}

// reference hashes data the way the library does (and Build did before
// PieceHasher): one SHA-1 per piece, read in order.
func reference(t *testing.T, data []byte, pl int64) []byte {
	t.Helper()
	out, err := metainfo.GeneratePieces(bytes.NewReader(data), pl, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPieceHasherAnyForecast: whatever the forecasts say, right, wrong,
// missing or changing their mind, the pieces are those of the final
// length's class; a forecast that is right from the start rereads nothing,
// and one that is wrong is repaired by rereading.
func TestPieceHasherAnyForecast(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int64{0, 1, 3, 4 << 10, 4<<10 + 1, 20000, 32 << 10, 32<<10 + 5, 100000, 256 << 10, 256<<10 + 1, 300001}
	forecasts := map[string]func(size, written int64) Forecast{
		"none":       func(size, written int64) Forecast { return Forecast{} },
		"exact":      func(size, written int64) Forecast { return Forecast{Max: size, Likely: size} },
		"bound only": func(size, written int64) Forecast { return Forecast{Max: size + 100} },
		"too low":    func(size, written int64) Forecast { return Forecast{Max: size + 1, Likely: size/20 + 1} },
		"too high":   func(size, written int64) Forecast { return Forecast{Likely: size*20 + 1} },
		"random": func(size, written int64) Forecast {
			return Forecast{Likely: rng.Int64N(2*size + 2)}
		},
		"converging": func(size, written int64) Forecast {
			// A ratio guess: far off at the start, right at the end.
			return Forecast{Max: 2*size + 10, Likely: written + (size-written)*3}
		},
	}
	for name, fc := range forecasts {
		for _, size := range sizes {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.Uint32())
			}
			h := newPieceHasher(tinyClasses)
			for off := int64(0); off < size; {
				n := min(size-off, 1+rng.Int64N(3000))
				h.Add(data[off:off+n], fc(size, off))
				off += n
			}
			got, err := h.Finish(context.Background(), bytes.NewReader(data), size)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", name, size, err)
			}
			pl := tinyClasses[classIndex(tinyClasses, size)].pieceLength
			if got.Length != pl || !bytes.Equal(got.Hashes, reference(t, data, pl)) {
				t.Errorf("%s, %d bytes: piece length %d, hashes differ from the reference's (piece length %d)", name, size, got.Length, pl)
			}
			if name == "exact" && got.Reread != 0 {
				t.Errorf("exact forecast, %d bytes: reread %d bytes", size, got.Reread)
			}
			if name == "none" && got.Reread != 0 {
				t.Errorf("no forecast (every class hashed), %d bytes: reread %d bytes", size, got.Reread)
			}
			if name == "too low" && size > 32<<10 && got.Reread == 0 {
				t.Errorf("forecast of %d bytes for %d: nothing reread, so the stream of a wrong class was used", size/20+1, size)
			}
		}
	}
}

// TestPieceHasherHashesOnlyWhatTheForecastWants: with a right forecast only
// the final class is hashed; without one, every class the length could
// still fall in.
func TestPieceHasherHashesOnlyWhatTheForecastWants(t *testing.T) {
	const size = 150000 // class 3 (64-byte pieces), far from its bounds
	data := bytes.Repeat([]byte("distpac "), size/8)
	run := func(f Forecast) Pieces {
		h := newPieceHasher(tinyClasses)
		for off := 0; off < size; off += 1024 {
			h.Add(data[off:min(off+1024, size)], f)
		}
		p, err := h.Finish(context.Background(), bytes.NewReader(data), size)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := run(Forecast{Max: size, Likely: size}); p.Streamed != size || p.Reread != 0 {
		t.Errorf("exact forecast: streamed %d, reread %d; want %d and 0", p.Streamed, p.Reread, size)
	}
	// Unknown: 4 KiB of the first class, 32 KiB of the second, all of the
	// third, and the whole 256-byte pieces of the fourth.
	if p, want := run(Forecast{}), int64(4<<10+32<<10+size+size/256*256); p.Streamed != want || p.Reread != 0 {
		t.Errorf("no forecast: streamed %d, reread %d; want %d and 0", p.Streamed, p.Reread, want)
	}
	// A guess far too low follows the written size up through the classes:
	// each byte is hashed once, for the class of the size so far, and the
	// final class's first 32 KiB are reread.
	if p := run(Forecast{Max: size, Likely: 10}); p.Streamed != size || p.Reread != 32<<10 {
		t.Errorf("low guess: streamed %d, reread %d; want %d and %d", p.Streamed, p.Reread, size, 32<<10)
	}
	// The bound alone rules out the last class.
	if p, want := run(Forecast{Max: size}), int64(4<<10+32<<10+size); p.Streamed != want {
		t.Errorf("bound only: streamed %d, want %d", p.Streamed, want)
	}
}

func TestPieceHasherErrors(t *testing.T) {
	data := make([]byte, 5000)
	h := newPieceHasher(tinyClasses)
	h.Add(data, Forecast{})
	if _, err := h.Finish(context.Background(), bytes.NewReader(data), 6000); err == nil || !strings.Contains(err.Error(), "5000 bytes hashed") {
		t.Errorf("Finish with a size other than what was hashed: %v", err)
	}
	// Nothing streamed: every piece is read, and a short file is an error.
	h = newPieceHasher(tinyClasses)
	if _, err := h.Finish(context.Background(), bytes.NewReader(data[:4000]), 5000); err == nil || !strings.Contains(err.Error(), "unexpected EOF") {
		t.Errorf("Finish over a short file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newPieceHasher(tinyClasses).Finish(ctx, bytes.NewReader(data), 5000); err == nil {
		t.Error("Finish with a cancelled context succeeded")
	}
}

// TestPieceHasherRealClassBoundary crosses the first real boundary (64 MiB)
// by one byte: the pieces must be 256 KiB ones, whether streamed with the
// right forecast or reread after a wrong one.
func TestPieceHasherRealClassBoundary(t *testing.T) {
	const size = 64<<20 + 1
	data := make([]byte, size)
	for i := 0; i < size; i += 8 {
		v := uint64(i) * 0x9e3779b97f4a7c15
		for k := 0; k < 8 && i+k < size; k++ {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	want := reference(t, data, 256<<10)
	for _, f := range []Forecast{{Max: size, Likely: size}, {Likely: 1 << 20}} {
		h := NewPieceHasher()
		for off := 0; off < size; off += 1 << 20 {
			h.Add(data[off:min(off+1<<20, size)], f)
		}
		got, err := h.Finish(context.Background(), bytes.NewReader(data), size)
		if err != nil {
			t.Fatal(err)
		}
		if got.Length != 256<<10 || !bytes.Equal(got.Hashes, want) {
			t.Errorf("forecast %+v: piece length %d, hashes differ", f, got.Length)
		}
	}
}

// oldBuild is Build as it was before PieceHasher: the library's hashing.
func oldBuild(path, announce, webSeed string, seeders ...netip.AddrPort) (Meta, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Meta{}, err
	}
	info := metainfo.Info{Name: filepath.Base(path), Length: st.Size(), PieceLength: PieceLength(st.Size())}
	if err := info.GeneratePieces(func(metainfo.FileInfo) (io.ReadCloser, error) { return os.Open(path) }); err != nil {
		return Meta{}, err
	}
	infoBytes, err := bencode.Marshal(info)
	if err != nil {
		return Meta{}, err
	}
	mi := metainfo.MetaInfo{InfoBytes: infoBytes, CreatedBy: "distpac"}
	if announce != "" {
		mi.Announce = announce
		mi.AnnounceList = [][]string{{announce}}
	}
	if webSeed != "" {
		mi.UrlList = []string{webSeed}
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return Meta{}, err
	}
	ih := mi.HashInfoBytes()
	mag := mi.Magnet(&ih, &info)
	for _, a := range seeders {
		if mag.Params == nil {
			mag.Params = map[string][]string{}
		}
		mag.Params.Add(peerParam, a.String())
	}
	return Meta{Torrent: buf.Bytes(), InfoHash: ih.HexString(), Magnet: mag.String()}, nil
}

// TestBuildMatchesOldBuild: Build (parallel hashing through PieceHasher)
// gives the bytes, infohash and magnet of the library's serial hashing.
func TestBuildMatchesOldBuild(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	seeder := netip.MustParseAddrPort("192.0.2.1:6881")
	for _, size := range []int64{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, urls := range [][2]string{{"", ""}, {"http://127.0.0.1:6969/announce", "http://127.0.0.1:9090/packages/"}} {
			got, err := Build(path, urls[0], urls[1], seeder)
			if err != nil {
				t.Fatal(err)
			}
			want, err := oldBuild(path, urls[0], urls[1], seeder)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Torrent, want.Torrent) || got.InfoHash != want.InfoHash || got.Magnet != want.Magnet {
				t.Errorf("%d bytes, urls %q: Build differs from the library's hashing:\n got %s %s\nwant %s %s", size, urls, got.InfoHash, got.Magnet, want.InfoHash, want.Magnet)
			}
		}
	}
}

func TestFromPiecesRefusesMismatchedPieces(t *testing.T) {
	for _, p := range []Pieces{
		{Length: 64 << 10, Hashes: make([]byte, 20)},   // 2 pieces needed
		{Length: 256 << 10, Hashes: make([]byte, 20)},  // wrong length for the size
		{Length: 64 << 10, Hashes: make([]byte, 3*20)}, // one too many
	} {
		if _, err := FromPieces("x.tar.zst", 100<<10, p, nil, ""); err == nil {
			t.Errorf("FromPieces accepted %d hashes of %d bytes for 100 KiB", len(p.Hashes)/20, p.Length)
		}
	}
}

// TestFromPiecesRefusesCredentials: no torrent carries a user or password
// in its trackers or web seed, which every client reads; the error quotes
// the URL masked.
func TestFromPiecesRefusesCredentials(t *testing.T) {
	p := Pieces{Length: 64 << 10, Hashes: make([]byte, 2*20)}
	for _, tc := range []struct {
		trackers []string
		webSeed  string
		want     string // in the error; "" for none
	}{
		{[]string{"http://t/announce"}, "http://s/packages/", ""},
		{[]string{"http://t/announce", "http://u:secret@t2/announce"}, "", `"http://u:xxxxx@t2/announce" holds a user or password`},
		{[]string{"http://t/announce"}, "https://u:secret@s/packages/", `"https://u:xxxxx@s/packages/" holds a user or password`},
		{nil, "https://token@s/packages/", `"https://token@s/packages/" holds a user or password`},
	} {
		_, err := FromPieces("x.tar.zst", 100<<10, p, tc.trackers, tc.webSeed)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret")) {
			t.Errorf("FromPieces(%q, %q) = %v; want %q", tc.trackers, tc.webSeed, err, tc.want)
		}
	}
}
