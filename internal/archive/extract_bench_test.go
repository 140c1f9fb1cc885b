package archive

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// packageMembers is an ordinary package as `make bench-files` makes it:
// a manifest, an install.sh and files of 1 KiB (random: they do not
// compress away) in 100 directories under assets/, a directory's files
// together, as Write sorts them.
func packageMembers(files int) []member {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1024)
	ms := []member{reg("manifest.yaml", "name: many\nversion: 1.0.0\n")}
	names := make([]string, files)
	for i := range files {
		names[i] = fmt.Sprintf("assets/d%02d/f%06d", i%100, i)
	}
	// Sorted as Write sorts: by directory, then name.
	for d := range 100 {
		for i := d; i < files; i += 100 {
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			ms = append(ms, reg(names[i], string(data)))
		}
	}
	return append(ms, reg("scripts/install.sh", "#!/bin/sh\n"))
}

// switchingMembers is files small files that switch directory at every
// entry, round robin over dirs directories depth levels deep (counting
// the file's own name). branch is the level at which the directories part:
// depth-1, they are siblings under one deep parent; 2, each is a chain of
// its own from assets/ down.
func switchingMembers(files, dirs, depth, branch int) []member {
	dirNames := make([]string, dirs)
	for d := range dirs {
		parts := []string{"assets"}
		for level := 2; level < depth; level++ {
			if level == branch {
				parts = append(parts, fmt.Sprintf("s%02d", d))
			} else {
				parts = append(parts, "d")
			}
		}
		dirNames[d] = strings.Join(parts, "/")
	}
	ms := make([]member, files)
	for i := range files {
		ms[i] = reg(fmt.Sprintf("%s/f%06d", dirNames[i%dirs], i), "content of a small file\n")
	}
	return ms
}

// BenchmarkExtractTree times Extract of trees of many small files: the
// ordinary package, and files switching directory at every entry at the
// depth bound (MaxDepth) and at depth 12, between sibling directories and
// between directories parted just below assets/. Figures only; each
// iteration extracts into a fresh directory (set TMPDIR=/dev/shm to leave
// the disk out). cpu-ms/op is the process's user and system time in
// Extract, writers included: less moved than the time by the load of
// others on a shared machine.
func BenchmarkExtractTree(b *testing.B) {
	for _, c := range []struct {
		name    string
		members func() []member
	}{
		{"package-10000", func() []member { return packageMembers(10000) }},
		{"siblings-depth128-20000", func() []member { return switchingMembers(20000, 50, MaxDepth, MaxDepth-1) }},
		{"siblings-depth12-20000", func() []member { return switchingMembers(20000, 50, 12, 11) }},
		{"branches-depth128-20000", func() []member { return switchingMembers(20000, 50, MaxDepth, 2) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			data := compress(b, tarBytes(b, c.members()))
			parent := b.TempDir()
			i := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dest := filepath.Join(parent, fmt.Sprint(i))
				i++
				start := cpuTime(b)
				b.StartTimer()
				if err := Extract(context.Background(), bytes.NewReader(data), dest, 0); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				cpu += cpuTime(b) - start
				if err := os.RemoveAll(dest); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(i), "cpu-ms/op")
		})
	}
}

// cpuTime is the user and system time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
