package stage

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkScan10k scans 10,000 files of 1 KiB in 100 directories (under
// $TMPDIR: run with TMPDIR=/dev/shm to leave the disk out).
func BenchmarkScan10k(b *testing.B) {
	root := b.TempDir()
	buf := make([]byte, 1024)
	for i := range 10000 {
		d := filepath.Join(root, "d"+strconv.Itoa(i%100))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		rand.Read(buf)
		if err := os.WriteFile(filepath.Join(d, "f"+strconv.Itoa(i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := Scan(context.Background(), root); err != nil {
			b.Fatal(err)
		}
	}
}
