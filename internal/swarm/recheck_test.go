package swarm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/torrentmeta"
)

// TestRecheckChanged: a seeded archive changed on disk is hashed again; one
// whose pieces no longer match stops being seeded and is named, one that
// still matches (touched, or copied over with the same bytes) is seeded
// on, and archives that did not change are not read at all.
func TestRecheckChanged(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		change  func(t *testing.T, path string, data []byte)
		damaged string // what the error says; "" for a file that still matches
	}{
		{"touched", func(t *testing.T, path string, _ []byte) {
			later := time.Now().Add(time.Minute)
			if err := os.Chtimes(path, later, later); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"same bytes, new file", func(t *testing.T, path string, data []byte) {
			if err := os.WriteFile(path+".new", data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(path+".new", path); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"a byte flipped in place", func(t *testing.T, path string, data []byte) {
			flipByte(t, path, data, 70<<10)
		}, "piece 1 of"},
		{"a byte flipped in place, its mtime put back", func(t *testing.T, path string, data []byte) {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond) // past the file system's timestamp granularity
			flipByte(t, path, data, 70<<10)
			if err := os.Chtimes(path, st.ModTime(), st.ModTime()); err != nil { // as cp -p, rsync -t
				t.Fatal(err)
			}
		}, "piece 1 of"},
		{"removed", func(t *testing.T, path string, data []byte) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, "no such file"},
		{"truncated", func(t *testing.T, path string, data []byte) {
			if err := os.Truncate(path, int64(len(data)/2)); err != nil {
				t.Fatal(err)
			}
		}, "bytes, the torrent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			e := newEngine(t, dir, 0)
			path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
			_, ih := seedRandom(t, ctx, e, dir, "pkg-1.0.0.tar.zst", 200<<10)
			_, otherIH := seedRandom(t, ctx, e, dir, "other-1.0.0.tar.zst", 100<<10)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			hashed := verifiedBytes.Load()
			if d := e.RecheckChanged(ctx); len(d) != 0 || verifiedBytes.Load() != hashed {
				t.Fatalf("nothing changed: dropped %v, hashed %d bytes", d, verifiedBytes.Load()-hashed)
			}

			tt.change(t, path, data)
			hashed = verifiedBytes.Load()
			d := e.RecheckChanged(ctx)
			if verifiedBytes.Load() == hashed && tt.damaged == "" {
				t.Error("the changed archive was not hashed again")
			}
			if tt.damaged == "" {
				if len(d) != 0 || !e.Has(ih) {
					t.Fatalf("a file that still matches: dropped %v, seeded %t", d, e.Has(ih))
				}
				// Its new state is the one compared next time.
				hashed = verifiedBytes.Load()
				if d := e.RecheckChanged(ctx); len(d) != 0 || verifiedBytes.Load() != hashed {
					t.Fatalf("checked again without a change: dropped %v, hashed %d bytes", d, verifiedBytes.Load()-hashed)
				}
			} else {
				if len(d) != 1 || d[0].InfoHash != ih || d[0].Name != "pkg-1.0.0.tar.zst" || !strings.Contains(d[0].Err.Error(), tt.damaged) {
					t.Fatalf("damaged: got %+v, want pkg-1.0.0.tar.zst with %q", d, tt.damaged)
				}
				if e.Has(ih) {
					t.Fatal("the damaged archive is still seeded")
				}
			}
			if !e.Has(otherIH) {
				t.Fatal("an unchanged archive was dropped")
			}
		})
	}
}

// flipByte changes the byte at off of the file at path, which holds data,
// without replacing the file.
func flipByte(t *testing.T, path string, data []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{data[off] ^ 1}, off); err != nil {
		t.Fatal(err)
	}
}

// TestIsDamaged: what the checks say of a file whose bytes are not the
// torrent's counts as damaged; a file that could not be read does not (a
// server would otherwise give up an archive for good over a passing
// "too many open files").
func TestIsDamaged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pkg-1.0.0.tar.zst")
	data := writeRandom(t, path, 200<<10)
	meta, err := torrentmeta.Build(path, "", "")
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, path, data, 70<<10)
	e := newEngine(t, dir, 0)
	if _, err := e.Seed(context.Background(), meta.Torrent, true); !IsDamaged(err) {
		t.Errorf("a flipped byte: %v, want damaged", err)
	}
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Seed(context.Background(), meta.Torrent, true); !IsDamaged(err) {
		t.Errorf("a short file: %v, want damaged", err)
	}
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(path); err == nil { // root reads it anyway
		f.Close()
		os.Remove(path)
	}
	if _, err := e.Seed(context.Background(), meta.Torrent, true); err == nil || IsDamaged(err) {
		t.Errorf("an unreadable or missing file: %v, want an error that is not damaged", err)
	}
}
