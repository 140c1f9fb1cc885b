package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExtractDigestsHostile: whatever an archive lists (hardlinks to
// small, queued and large files made at once after them, duplicate
// names, names through files and symlinks, directories listed after
// their files, empty files), every Digest an extraction returns is of
// the content now at its name when the file is still the Same: the
// install records that SHA-256 without reading the file, and verify and
// uninstall trust it.
func TestExtractDigestsHostile(t *testing.T) {
	extracted := 0
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var ms []member
		var files []string
		n := 5 + rng.IntN(inlineSmall+30)
		hostile := rng.IntN(3) == 0 // one entry that fails the extraction
		for i := range n {
			name := fmt.Sprintf("assets/d%d/f%d", rng.IntN(4), i)
			switch r := rng.IntN(10); {
			case r < 5 || len(files) == 0:
				size := rng.IntN(3000)
				if rng.IntN(12) == 0 {
					size = smallFile + 1 + rng.IntN(4*smallFile)
				}
				ms = append(ms, reg(name, strings.Repeat(string(rune('a'+i%26)), size)))
				files = append(files, name)
			case r < 8 || r == 9 && !hostile:
				ms = append(ms, hardlink(name, files[rng.IntN(len(files))]))
			case r == 8:
				ms = append(ms, symlink(name, "../d0"))
			default: // hostile: again, or under a file
				hostile = false
				ms = append(ms, reg(files[rng.IntN(len(files))]+[]string{"", "/x"}[rng.IntN(2)], "other"))
			}
		}
		ms = append(ms, member{hdr: tar.Header{Name: "assets/d0/", Typeflag: tar.TypeDir, Mode: 0o755}})
		dest := filepath.Join(t.TempDir(), "dest")
		d, err := ExtractDigests(context.Background(), bytes.NewReader(compress(t, tarBytes(t, ms))), dest, 1<<30)
		if err != nil {
			if d != nil {
				t.Fatalf("seed %d: digests returned with the error %v", seed, err)
			}
			continue
		}
		extracted++
		for name, g := range d.m {
			p := filepath.Join(dest, name)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				t.Fatalf("seed %d: %s: %v", seed, name, err)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if g.SHA256 != sha256.Sum256(data) || g.Size != int64(len(data)) {
				t.Errorf("seed %d: %s: digest of %d bytes differs from the %d bytes there (Same: %v)", seed, name, g.Size, len(data), g.Same(&st))
			}
		}
	}
	if extracted < 15 {
		t.Errorf("%d of the archives extracted, want more to look at", extracted)
	}
}
