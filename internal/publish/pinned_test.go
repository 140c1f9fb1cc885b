package publish_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
)

// TestAddMatchesPinnedArchives holds DESIGN.md §4 across changes to the
// publishing code: generated packages must give exactly the archive,
// torrent and infohash that the code before the single-pass pipeline gave
// (values recorded with commit 365d538, the last serial archive writer and
// two-pass torrent builder), but for the archives' zstd window, 4 MiB since
// it was 8 (archive.newEncoder; the frame header's window descriptor, so
// every archive whose header has one changed; the tiny one is a single
// segment). A change here changes the infohash of every package published
// again (add keeps an older archive of the same content: frames_test.go).
func TestAddMatchesPinnedArchives(t *testing.T) {
	tests := []struct {
		name      string
		files     []genFile
		size      int64  // archive bytes
		sha256    string // of the archive
		infohash  string
		torrentSH string // sha256 of the .torrent bytes (announce and web seed pinned below)
	}{
		{
			name: "tiny",
			files: []genFile{
				{path: "assets/hello.txt", kind: genText, size: 100},
			},
			size:      351,
			sha256:    "7598231ec945ad0b19a59768395974a31fc34e80fcbf578a335e1c621ddc99a1",
			infohash:  "e9f1882aa1fdfdd1494307d4cbf09bdfb180f88a",
			torrentSH: "133b1922d790e719214769cff5ed9f21686d47bbee3121599a0092dc1ca13fe6",
		},
		{
			name: "mixed tree",
			files: []genFile{
				{path: "assets/bin/tool", kind: genRandom, size: 1 << 20, exec: true},
				{path: "assets/bin/tool-link", link: "tool"},
				{path: "assets/share/doc/README", kind: genText, size: 300 << 10},
				{path: "assets/share/doc/" + strings.Repeat("very-long-name-", 9) + ".txt", kind: genText, size: 5000},
				{path: "assets/share/ünïcödé.txt", kind: genText, size: 777},
				{path: "assets/share/empty", kind: genText, size: 0},
				{path: "assets/share/table.csv", kind: genText, size: 700<<10 + 3},
				{path: "assets/var/cache", dir: true},
			},
			size:      1364156,
			sha256:    "5800ae119db1858d5abfc3c7f03310d34e9f64f06c0ba855faf68198135f540d",
			infohash:  "1c0eb0d04694e938749b6cdcbc8bbaa161619f08",
			torrentSH: "254ede2b7d2322f2a04dd342c6e8ae314ad0cf49f40d982bdabfe8edb093ee8c",
		},
		{
			// Alternating random and text chunks: many zstd blocks of both
			// kinds, and more than one piece.
			name: "interleaved 6 MiB",
			files: []genFile{
				{path: "assets/data.bin", kind: genInterleaved, size: 6 << 20},
				{path: "assets/small/a", kind: genText, size: 10},
				{path: "assets/small/b", kind: genRandom, size: 128<<10 + 1},
			},
			size:      3207990,
			sha256:    "bb637c754bd4a9bfdc3021b75b5b07a555aa5ef04f018088d7bd2a68bdce3cfd",
			infohash:  "ac42556bcf483e2488f7040ed7f770ec80a5c860",
			torrentSH: "641524c8283f3f9df2ebad4918ffd59dac3cb7c2e9ba98e43b55cf85479d14ba",
		},
	}
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pinned")
			writeGenPackage(t, dir, uint64(i+1), tt.files)
			p := pinnedPublisher(t)
			res, err := p.Add(ctx, []string{dir})
			if err != nil {
				t.Fatal(err)
			}
			row := res[0].Package
			data, err := os.ReadFile(filepath.Join(p.Paths.Archives(), row.Archive))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			tsum := sha256.Sum256(row.Torrent)
			got := struct {
				size              int64
				sha, ih, torrentS string
			}{int64(len(data)), hex.EncodeToString(sum[:]), row.InfoHash, hex.EncodeToString(tsum[:])}
			if row.Size != got.size || row.SHA256 != got.sha {
				t.Errorf("catalog row says %d bytes, sha256 %s; the stored archive is %d bytes, %s", row.Size, row.SHA256, got.size, got.sha)
			}
			if got.size != tt.size || got.sha != tt.sha256 || got.ih != tt.infohash || got.torrentS != tt.torrentSH {
				t.Errorf("archive %d bytes sha256 %s infohash %s torrent sha256 %s\nwant    %d bytes sha256 %s infohash %s torrent sha256 %s",
					got.size, got.sha, got.ih, got.torrentS, tt.size, tt.sha256, tt.infohash, tt.torrentSH)
			}
		})
	}
}

// pinnedPublisher is a publisher whose torrents carry fixed URLs and a
// fixed seeder address, so the .torrent bytes and magnet can be pinned.
func pinnedPublisher(t testing.TB) *publish.Publisher {
	t.Helper()
	cfg := &config.Server{
		AnnounceURL: "http://tracker.example:6969/announce",
		PublicURL:   "http://pkgs.example:9090",
		PeerAddr:    "192.0.2.7:6881",
		WebSeed:     true,
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &publish.Publisher{
		Paths:  paths.Home{Root: t.TempDir()}.Server(),
		Config: cfg,
		Logger: slog.New(slog.DiscardHandler),
	}
}

// genKind is how a generated file's bytes are made.
type genKind int

const (
	genText        genKind = iota // words from a fixed vocabulary: zstd finds matches
	genRandom                     // incompressible
	genInterleaved                // 64 KiB of random, 192 KiB of text, repeated
)

// genFile is one path of a generated package: a regular file of size bytes
// of kind, a directory (dir) or a symlink (link).
type genFile struct {
	path string
	kind genKind
	size int64
	exec bool
	dir  bool
	link string
}

// writeGenPackage writes a package with version 1.0.0, the two scripts and
// files, every byte derived from seed by splitmix64 (not math/rand, whose
// derived methods may change between Go releases; these bytes must not).
func writeGenPackage(t testing.TB, dir string, seed uint64, files []genFile) {
	t.Helper()
	all := append([]genFile{
		{path: "manifest.yaml", kind: -1},
		{path: "scripts/install.sh", kind: -1, exec: true},
		{path: "scripts/uninstall.sh", kind: -1, exec: true},
	}, files...)
	g := &splitmix{state: seed}
	for _, f := range all {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case f.dir:
			err = os.MkdirAll(p, 0o755)
		case f.link != "":
			err = os.Symlink(f.link, p)
		case f.path == "manifest.yaml":
			err = os.WriteFile(p, []byte("name: pinned\nversion: 1.0.0\ndescription: generated\n"), 0o644)
		case strings.HasPrefix(f.path, "scripts/"):
			err = os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755)
		default:
			perm := os.FileMode(0o644)
			if f.exec {
				perm = 0o755
			}
			err = os.WriteFile(p, g.content(f.kind, f.size), perm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// splitmix is splitmix64: a fixed, tiny generator.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// vocabulary is 512 pseudo-words; text picks them with a skew (the
// minimum of two draws) so some repeat often, as in real text.
var vocabulary = func() []string {
	g := &splitmix{state: 42}
	words := make([]string, 512)
	for i := range words {
		b := make([]byte, 2+g.next()%9)
		for j := range b {
			b[j] = byte('a' + g.next()%26)
		}
		words[i] = string(b)
	}
	return words
}()

func (s *splitmix) content(kind genKind, size int64) []byte {
	out := make([]byte, 0, size)
	for int64(len(out)) < size {
		switch kind {
		case genRandom:
			out = s.random(out, size)
		case genText:
			out = s.text(out, size)
		case genInterleaved:
			out = s.random(out, min(size, int64(len(out))+64<<10))
			out = s.text(out, min(size, int64(len(out))+192<<10))
		}
	}
	return out
}

func (s *splitmix) random(out []byte, end int64) []byte {
	for int64(len(out)) < end {
		v := s.next()
		for k := 0; k < 8 && int64(len(out)) < end; k++ {
			out = append(out, byte(v>>(8*k)))
		}
	}
	return out
}

func (s *splitmix) text(out []byte, end int64) []byte {
	col := 0
	for int64(len(out)) < end {
		a, b := s.next()%512, s.next()%512
		w := vocabulary[min(a, b)]
		sep := byte(' ')
		if col += len(w) + 1; col > 72 {
			sep, col = '\n', 0
		}
		for _, c := range []byte(w + string(sep)) {
			if int64(len(out)) == end {
				break
			}
			out = append(out, c)
		}
	}
	return out
}
