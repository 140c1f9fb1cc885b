//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distpac/distpac/internal/archive"
)

// The publishing row (issue 12 point 4): `dist-server add` of one package
// of mixed content must take at most 1.1 × the slowest of `zstd -3 -T1` and
// `sha256sum` run on the same bytes in the same run, with its peak RSS
// under 128 MiB at 1 GiB. Each run times the tools, then (with an old
// dist-server) the old add, then this tree's add, each on a fresh data
// directory, and notes the load average, since the machine may be shared.

// AddRow is one run of the publishing benchmark.
type AddRow struct {
	Run               int
	Load              string // /proc/loadavg's 1-minute figure before the run
	Zstd, Sha256, Add Timing
	Old               *Timing // the old dist-server's add, when given
	OldSame           string  // with Old: whether it gave the same archive
}

// Timing is one command's wall and CPU time and, for adds, its peak RSS.
type Timing struct {
	Wall, User, Sys time.Duration
	PeakRSS         int64
	Note            string // the add's own figures (pieces streamed and reread)
}

// addMain runs the publishing rows: runs runs on a size-byte package.
func addMain(ctx context.Context, size int64, runs int, binDir, oldServer string, keep bool, stdout, stderr io.Writer) int {
	dir, done, ok := toolsAndWorkDir("-add", keep, stderr, "zstd", "sha256sum")
	if !ok {
		return 1
	}
	defer done()
	rows, err := RunAdd(ctx, dir, size, runs, binDir, oldServer, stderr)
	fmt.Fprintln(stdout, ProbeMachine())
	PrintAdd(stdout, size, rows)
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return 1
	}
	return 0
}

// toolsAndWorkDir checks that the tools mode compares with are on PATH and
// makes a work directory, removed by done unless keep is set.
func toolsAndWorkDir(mode string, keep bool, stderr io.Writer, tools ...string) (dir string, done func(), ok bool) {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(stderr, "dist-bench: %s needs %s on PATH\n", mode, tool)
			return "", nil, false
		}
	}
	dir, err := os.MkdirTemp("", "distpac-bench"+mode+"-")
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return "", nil, false
	}
	if keep {
		fmt.Fprintf(stderr, "dist-bench: keeping %s\n", dir)
		return dir, func() {}, true
	}
	return dir, func() { os.RemoveAll(dir) }, true
}

// RunAdd writes the package under dir and measures runs runs.
func RunAdd(ctx context.Context, dir string, size int64, runs int, binDir, oldServer string, progress io.Writer) ([]AddRow, error) {
	pkg := filepath.Join(dir, "big")
	data := filepath.Join(pkg, "assets", "data.bin")
	fmt.Fprintf(progress, "writing %d bytes of mixed content to %s\n", size, data)
	if err := writeMixedPackage(pkg, size); err != nil {
		return nil, err
	}
	// Warm the page cache, so every command reads the input from memory.
	if err := run(nil, "cat", data); err != nil {
		return nil, err
	}
	var rows []AddRow
	for r := 1; r <= runs; r++ {
		row := AddRow{Run: r, Load: loadAvg()}
		var err error
		if row.Zstd, err = timeCmd(ctx, nil, false, nil, "zstd", "-3", "-T1", "-q", "-f", data, "-o", filepath.Join(dir, "out.zst")); err != nil {
			return rows, err
		}
		os.Remove(filepath.Join(dir, "out.zst"))
		if row.Sha256, err = timeCmd(ctx, nil, false, nil, "sha256sum", data); err != nil {
			return rows, err
		}
		var oldIH, newIH string
		if oldServer != "" {
			t, ih, err := timeAdd(ctx, oldServer, filepath.Join(dir, "old"), pkg)
			if err != nil {
				return rows, fmt.Errorf("old add: %w", err)
			}
			row.Old, oldIH = &t, ih
		}
		row.Add, newIH, err = timeAdd(ctx, filepath.Join(binDir, "dist-server"), filepath.Join(dir, "new"), pkg)
		if err != nil {
			return rows, fmt.Errorf("add: %w", err)
		}
		if oldServer != "" {
			oldArchive := filepath.Join(dir, "old", "distpac", "server", "archives", "big-1.0.0.tar.zst")
			newArchive := filepath.Join(dir, "new", "distpac", "server", "archives", "big-1.0.0.tar.zst")
			same, err := compareArchives(ctx, oldArchive, newArchive)
			if err != nil {
				return rows, fmt.Errorf("the old and the new add disagree: %w", err)
			}
			switch {
			case same && oldIH == newIH:
				row.OldSame = "the same archive and infohash"
			case same:
				row.OldSame = fmt.Sprintf("the same archive, another torrent: infohash %s, this tree's %s", oldIH, newIH)
			default:
				row.OldSame = fmt.Sprintf("another archive of the same tar stream: infohash %s, this tree's %s", oldIH, newIH)
			}
		}
		os.RemoveAll(filepath.Join(dir, "old"))
		os.RemoveAll(filepath.Join(dir, "new"))
		rows = append(rows, row)
		fmt.Fprintf(progress, "run %d done\n", r)
	}
	return rows, nil
}

// timeAdd runs server's add of pkg with a fresh XDG_DATA_HOME and returns
// its timing and the infohash it printed.
func timeAdd(ctx context.Context, server, home, pkg string) (Timing, string, error) {
	os.RemoveAll(home)
	var out bytes.Buffer
	env := append(os.Environ(), "XDG_DATA_HOME="+home)
	t, err := timeCmd(ctx, env, true, &out, server, "-v", "add", pkg)
	if err != nil {
		return t, "", fmt.Errorf("%w: %s", err, lastLine(out.Bytes()))
	}
	ih := infohashRE.FindStringSubmatch(out.String())
	if ih == nil {
		return t, "", fmt.Errorf("no infohash in %q", lastLine(out.Bytes()))
	}
	if m := piecesRE.FindStringSubmatch(out.String()); m != nil {
		t.Note = fmt.Sprintf("archive %s, pieces hashed while writing %s, reread %s", mib(m[1]), mib(m[2]), mib(m[3]))
	}
	return t, ih[1], nil
}

var (
	infohashRE = regexp.MustCompile(`infohash ([0-9a-f]{40})`)
	piecesRE   = regexp.MustCompile(`bytes=(\d+) streamed=(\d+) reread=(\d+)`)
)

// mib formats a decimal byte count in MiB.
func mib(s string) string {
	n, _ := strconv.ParseInt(s, 10, 64)
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
}

// timeCmd runs a command with env (nil: this process's) and output to out
// (nil: discarded), and measures it; the peak RSS only when rss is set
// (watchPeakRSS polls /proc).
func timeCmd(ctx context.Context, env []string, rss bool, out io.Writer, name string, args ...string) (Timing, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Timing{}, err
	}
	var t Timing
	var err error
	wait := func() { err = cmd.Wait() }
	if rss {
		t.PeakRSS = watchPeakRSS(cmd.Process.Pid, wait)
	} else {
		wait()
	}
	t.Wall = time.Since(start)
	if err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	t.User, t.Sys = cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
	return t, nil
}

// loadAvg is the 1-minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// compareArchives reports whether the archives at a and b are the same
// bytes; when they are not, it fails unless they decompress to the same
// tar stream (an add before the 8 MiB frames wrote large archives as one
// frame).
func compareArchives(ctx context.Context, a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	if same, err := sameBytes(bufio.NewReaderSize(fa, 1<<20), bufio.NewReaderSize(fb, 1<<20)); err != nil || same {
		return same, err
	}
	for _, f := range []*os.File{fa, fb} {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return false, err
		}
	}
	same, err := archive.SameContent(ctx, bufio.NewReaderSize(fa, 1<<20), bufio.NewReaderSize(fb, 1<<20))
	if err == nil && !same {
		err = fmt.Errorf("%s and %s hold different tar streams", a, b)
	}
	return false, err
}

// sameBytes reports whether ra and rb read the same bytes.
func sameBytes(ra, rb io.Reader) (bool, error) {
	bufA, bufB := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, errA := io.ReadFull(ra, bufA)
		nb, errB := io.ReadFull(rb, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		for _, err := range []error{errA, errB} {
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				return false, err
			}
		}
		if errA != nil || errB != nil {
			return errA != nil && errB != nil, nil
		}
	}
}

// writeMixedPackage writes a package whose one asset, assets/data.bin, is
// size bytes alternating 4 MiB of random bytes and 4 MiB of text-like
// words (a skewed pick from 4,096 pseudo-words, 72-column lines), so that
// zstd does real work on half of it and stores the other half: about 0.64
// of the input at level 3.
func writeMixedPackage(dir string, size int64) error {
	for _, d := range []string{"assets", "scripts"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.yaml"), []byte("name: big\nversion: 1.0.0\n"), 0o644); err != nil {
		return err
	}
	for _, s := range []string{"install.sh", "uninstall.sh"} {
		if err := os.WriteFile(filepath.Join(dir, "scripts", s), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "assets", "data.bin"))
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(12, 4))
	words := make([][]byte, 4096)
	for i := range words {
		words[i] = make([]byte, 2+r.IntN(9))
		for j := range words[i] {
			words[i][j] = byte('a' + r.IntN(26))
		}
	}
	const chunk = 4 << 20
	buf := make([]byte, 0, chunk+16)
	for k, written := 0, int64(0); written < size; k++ {
		n := min(chunk, size-written)
		buf = buf[:0]
		if k%2 == 0 {
			for int64(len(buf)) < n {
				buf = binary.LittleEndian.AppendUint64(buf, r.Uint64())
			}
		} else {
			col := 0
			for int64(len(buf)) < n {
				w := words[min(r.IntN(len(words)), r.IntN(len(words)), r.IntN(len(words)))]
				buf = append(buf, w...)
				if col += len(w) + 1; col > 72 {
					buf, col = append(buf, '\n'), 0
				} else {
					buf = append(buf, ' ')
				}
			}
		}
		if _, err := w.Write(buf[:n]); err != nil {
			f.Close()
			return err
		}
		written += n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PrintAdd prints the runs and their ratio to the slowest tool.
func PrintAdd(w io.Writer, size int64, rows []AddRow) {
	fmt.Fprintf(w, "dist-server add of %s of mixed content beside zstd -3 -T1 and sha256sum of the same bytes; wall (user+sys), peak RSS of the adds\n", fmtMiB(size))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tload\tzstd -3 -T1\tsha256sum\told add\tadd\tadd ÷ slowest tool\tadd peak RSS\t")
	var ratios []float64
	for _, r := range rows {
		old := "-"
		if r.Old != nil {
			old = fmtTiming(*r.Old) + " " + fmtMiB(r.Old.PeakRSS)
		}
		slowest := max(r.Zstd.Wall, r.Sha256.Wall)
		ratio := r.Add.Wall.Seconds() / slowest.Seconds()
		ratios = append(ratios, ratio)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t\n", r.Run, r.Load, fmtTiming(r.Zstd), fmtTiming(r.Sha256), old, fmtTiming(r.Add), ratio, fmtMiB(r.Add.PeakRSS))
	}
	tw.Flush()
	for _, r := range rows {
		if r.Add.Note != "" {
			fmt.Fprintf(w, "run %d add: %s\n", r.Run, r.Add.Note)
		}
		if r.OldSame != "" {
			fmt.Fprintf(w, "run %d old add: %s\n", r.Run, r.OldSame)
		}
	}
	if len(ratios) > 0 {
		slices.Sort(ratios)
		fmt.Fprintf(w, "median add ÷ slowest tool: %.2f (target ≤ 1.10)\n", ratios[len(ratios)/2])
	}
}

func fmtTiming(t Timing) string {
	return fmt.Sprintf("%.2fs (%.2f+%.2f)", t.Wall.Seconds(), t.User.Seconds(), t.Sys.Seconds())
}
