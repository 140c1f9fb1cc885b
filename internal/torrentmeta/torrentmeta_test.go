package torrentmeta

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func TestPieceLength(t *testing.T) {
	tests := []struct {
		size int64
		want int64
	}{
		{0, 64 << 10},
		{64 << 10, 64 << 10},
		{16 << 20, 64 << 10},
		{100 << 20, 256 << 10},
		{1 << 30, 1 << 20},
		{8 << 30, 4 << 20},
		{256 << 30, 4 << 20},
		{256<<30 + 1, 8 << 20},
		{300 << 30, 8 << 20},
		{1 << 40, 16 << 20},
		{4 << 40, 64 << 20},
		{5 << 40, 64 << 20},
	}
	for _, tt := range tests {
		if got := PieceLength(tt.size); got != tt.want {
			t.Errorf("PieceLength(%d) = %d, want %d", tt.size, got, tt.want)
		}
	}
}

// TestPieceLengthKeepsPiecesBounded: up to 4 TiB (MaxPieces pieces of
// 64 MiB) no archive gets more than MaxPieces pieces, at each class's
// edges, which the catalog would refuse.
func TestPieceLengthKeepsPiecesBounded(t *testing.T) {
	for _, c := range classes {
		for _, size := range []int64{c.maxSize, c.maxSize + 1} {
			if size <= 0 || size > MaxPieces*64<<20 {
				continue
			}
			n := PieceLength(size)
			if pieces := (size + n - 1) / n; pieces > MaxPieces {
				t.Errorf("PieceLength(%d) = %d: %d pieces, want at most %d", size, n, pieces, MaxPieces)
			}
		}
	}
}

func TestBuildIsStableAndParses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "foo-1.0.0.tar.zst")
	data := make([]byte, 300<<10+7)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := Build(path, "http://127.0.0.1:6969/announce", "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(path, "http://127.0.0.1:6969/announce", "")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Torrent, b.Torrent) || a.InfoHash != b.InfoHash {
		t.Fatal("two builds of the same archive differ")
	}
	if len(a.InfoHash) != 40 {
		t.Fatalf("infohash %q", a.InfoHash)
	}
	mi, info, err := Parse(a.Torrent, "foo-1.0.0.tar.zst", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if mi.Announce != "http://127.0.0.1:6969/announce" || info.PieceLength != 64<<10 || info.NumPieces() != 5 {
		t.Fatalf("unexpected metainfo: announce %q piece length %d pieces %d", mi.Announce, info.PieceLength, info.NumPieces())
	}
	if _, _, err := Parse(a.Torrent, "foo-1.0.0.tar.zst", 1); err == nil {
		t.Fatal("Parse accepted a wrong size")
	}
	if _, _, err := Parse([]byte("garbage"), "x", 1); err == nil {
		t.Fatal("Parse accepted garbage")
	}
	// Same content with a web seed: different .torrent bytes, same infohash.
	c, err := Build(path, "http://127.0.0.1:6969/announce", "http://127.0.0.1:9090/packages/")
	if err != nil {
		t.Fatal(err)
	}
	if c.InfoHash != a.InfoHash {
		t.Fatal("web seed changed the infohash")
	}

	// Several trackers: a tier each, in order; the first is the announce
	// key too. The infohash stays the same.
	trackers := []string{"http://127.0.0.1:1/announce", "http://t2.example.org:6969/announce", "https://t3.example.org/announce"}
	d, err := BuildTrackers(path, trackers, "")
	if err != nil {
		t.Fatal(err)
	}
	mi, _, err = Parse(d.Torrent, "foo-1.0.0.tar.zst", int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{trackers[0]}, {trackers[1]}, {trackers[2]}}; mi.Announce != trackers[0] || !reflect.DeepEqual([][]string(mi.AnnounceList), want) {
		t.Errorf("announce %q, announce-list %q; want %q and %q", mi.Announce, mi.AnnounceList, trackers[0], want)
	}
	if d.InfoHash != a.InfoHash {
		t.Error("trackers changed the infohash")
	}
}

func TestWebSeedURL(t *testing.T) {
	for _, c := range []struct{ seed, name, want string }{
		{"http://h:9090/packages/", "hello-1.0.0.tar.zst", "http://h:9090/packages/hello-1.0.0.tar.zst"},
		{"http://h/p/", "a b+c.tar.zst", "http://h/p/a%20b+c.tar.zst"},
		{"http://h/exact/file.tar.zst", "hello-1.0.0.tar.zst", "http://h/exact/file.tar.zst"},
	} {
		if got := WebSeedURL(c.seed, c.name); got != c.want {
			t.Errorf("WebSeedURL(%q, %q) = %q, want %q", c.seed, c.name, got, c.want)
		}
	}
}

// TestWebSeeds: only http and https entries with a host, in order.
func TestWebSeeds(t *testing.T) {
	b, err := bencode.Marshal(metainfo.MetaInfo{InfoBytes: []byte("de"), UrlList: []string{
		"http://a/packages/", "ftp://b/", "https:///nohost", "https://c/x.tar.zst", "::bad",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := WebSeeds(b), []string{"http://a/packages/", "https://c/x.tar.zst"}; !slices.Equal(got, want) {
		t.Errorf("WebSeeds = %q, want %q", got, want)
	}
	if got := WebSeeds([]byte("not bencode")); got != nil {
		t.Errorf("WebSeeds of garbage = %q, want nil", got)
	}
}

// Credentials finds a user or password in a torrent's trackers and web
// seeds, as an older dist-server wrote them, and shows them masked.
func TestCredentials(t *testing.T) {
	tests := []struct {
		name     string
		announce [][]string
		urlList  []string
		want     []string
	}{
		{name: "none", announce: [][]string{{"http://t.example/announce"}}, urlList: []string{"http://repo.example/packages/"}},
		{
			name:     "a password in a web seed and a tracker",
			announce: [][]string{{"http://t.example/announce"}, {"http://u:secret@t2.example/announce"}},
			urlList:  []string{"https://u:secret@repo.example/packages/"},
			want:     []string{"http://u:xxxxx@t2.example/announce", "https://u:xxxxx@repo.example/packages/"},
		},
		{name: "a user alone", urlList: []string{"https://token@repo.example/packages/"}, want: []string{"https://token@repo.example/packages/"}},
		{name: "a URL that does not parse", urlList: []string{"http://u:sec ret@repo.example/"}, want: []string{"http://u:xxxxx@repo.example/"}},
		{name: "an @ past the host", urlList: []string{"http://repo.example/v@1/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mi := &metainfo.MetaInfo{AnnounceList: tt.announce, UrlList: tt.urlList}
			if got := Credentials(mi); !slices.Equal(got, tt.want) {
				t.Errorf("Credentials = %q, want %q", got, tt.want)
			}
		})
	}
}
