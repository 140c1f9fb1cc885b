//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/swarm"
)

func TestBound(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct {
		n       int
		f, U, u int64
		want    time.Duration
	}{
		{16, 16 * MiB, 2 * MiB, 2 * MiB, 8 * time.Second},         // F/U dominates
		{32, 16 * MiB, 2 * MiB, 2 * MiB, 8 * time.Second},         // 32·16/66 = 7.76 s < 8 s
		{16, 16 * MiB, 2 * MiB, 0, 128 * time.Second},             // no client upload: N·F/U, as HTTP
		{4, 16 * MiB, 16 * MiB, 1 * MiB, 3200 * time.Millisecond}, // 4·16/20 = 3.2 s > 1 s
		{1, 64 << 10, 1 * MiB, 1 * MiB, 62500 * time.Microsecond}, // one client: F/U
	} {
		if got := Bound(c.n, c.f, c.U, c.u); got != c.want {
			t.Errorf("Bound(%d, %d, %d, %d) = %v, want %v", c.n, c.f, c.U, c.u, got, c.want)
		}
	}
}

func TestSummarise(t *testing.T) {
	var r Row
	summarise(&r, []time.Duration{3 * time.Second, 1 * time.Second, 2 * time.Second})
	if r.Last != 3*time.Second || r.Max != 3*time.Second || r.Mean != 2*time.Second {
		t.Errorf("summarise: last %v max %v mean %v; want 3s 3s 2s", r.Last, r.Max, r.Mean)
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, c := range []struct {
		name, stat string
		want       time.Duration
		ok         bool
	}{
		{"plain", "1234 (dist-client) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0", 3250 * time.Millisecond, true},
		{"name with spaces and parens", "42 (a b) (c)) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5", 100 * time.Millisecond, true},
		{"truncated", "42 (x) R 1 2 3", 0, false},
		{"no name", "garbage", 0, false},
		{"not numbers", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0 0", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := parseStatCPU([]byte(c.stat))
			if got != c.want || ok != c.ok {
				t.Errorf("parseStatCPU = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

// The peak RSS of a child is its own, read while it runs: a shell that
// holds a few MiB reports more than nothing and less than this test binary
// would pass on through ru_maxrss.
func TestWatchPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sh", "-c", "sleep 0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var err error
	peak := watchPeakRSS(cmd.Process.Pid, func() { err = cmd.Wait() })
	if err != nil {
		t.Fatal(err)
	}
	if peak <= 0 || peak > 64<<20 {
		t.Errorf("peak RSS of sh = %d bytes; want a few MiB", peak)
	}
}

// TestTransferFigures reads the wasted bytes, the pieces that failed their
// hash, the first download's start (the engine's start, Ended - Elapsed,
// from the run's start), the first payload byte (that start plus
// FirstByte) and the last download's end from an install's --json report,
// over every archive.
func TestTransferFigures(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	rep := &fetch.Report{Archives: []fetch.ArchiveReport{
		{Archive: "a.tar.zst", Transfer: swarm.Transfer{Wasted: 100, HashFailures: 1, Ended: t0.Add(19 * time.Second), Elapsed: 18 * time.Second, FirstByte: 300 * time.Millisecond}},
		{Archive: "b.tar.zst", Transfer: swarm.Transfer{Wasted: 50, HashFailures: 2, Ended: t0.Add(20500 * time.Millisecond), Elapsed: 19 * time.Second, FirstByte: 900 * time.Millisecond}},
		{Archive: "c.tar.zst", Cached: true},
	}}
	b, err := json.Marshal(install.Summary{Transfer: rep})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		report []byte
		want   transferFigs
	}{
		// a: started at 1 s, first byte at 1.3 s; b: started at 1.5 s,
		// first byte at 2.4 s. The earlier counts.
		{"two archives and a cached one", b, transferFigs{wasted: 150, hashFailures: 3, started: time.Second, firstByte: 1300 * time.Millisecond, downloaded: 20500 * time.Millisecond}},
		{"no transfer", []byte(`{"changes":[]}`), transferFigs{}},
		{"not json", []byte("dist-client: boom"), transferFigs{}},
	}
	for _, tt := range tests {
		if got := transferFigures(tt.report, t0); got != tt.want {
			t.Errorf("%s: transferFigures = %+v, want %+v", tt.name, got, tt.want)
		}
	}
	if got := meanPositive([]time.Duration{0, time.Second, 3 * time.Second}); got != 2*time.Second {
		t.Errorf("meanPositive = %v, want 2s (zeros are clients without a figure)", got)
	}
}

// TestPhasesOf: a row's phases are when its downloads started, how long
// they took and how long after its download each install ended, as
// ranges with means; a client without a figure leaves the line out.
func TestPhasesOf(t *testing.T) {
	s := time.Second
	figs := []transferFigs{{started: s, downloaded: 9 * s}, {started: 2 * s, downloaded: 10 * s}}
	got, ok := phasesOf(figs, []time.Duration{9500 * time.Millisecond, 10 * s})
	want := "downloads started 1.00-2.00 s (mean 1.50) after the row's start and took 8.00-8.00 s (mean 8.00); installs ended 0.00-0.50 s (mean 0.25) after their download"
	if !ok || got != want {
		t.Errorf("phasesOf = %q, %v; want %q", got, ok, want)
	}
	if _, ok := phasesOf(append(figs, transferFigs{}), []time.Duration{s, s, s}); ok {
		t.Error("phasesOf with a client that reported no download gave a line")
	}
}

// TestPrintNotes: a failed row and a row whose clients had pieces fail
// their hash are named below the table.
func TestPrintNotes(t *testing.T) {
	var out bytes.Buffer
	Print(&out, []Row{
		{Method: "distpac", N: 4, F: 16 << 20, Last: 9 * time.Second, Bound: 8 * time.Second, HashFailures: 1},
		{Method: "distpac", N: 16, F: 16 << 20, Err: "client 2: no source"},
		{Method: "distpac", N: 32, F: 16 << 20, Last: 10 * time.Second, Bound: 8 * time.Second, HashFailures: 3},
		{Method: "aria2", N: 32, F: 16 << 20, Last: 12 * time.Second, Bound: 8 * time.Second},
	})
	text := out.String()
	for _, want := range []string{
		"FAILED 1: distpac N=16: client 2: no source", // numbered among the failures only
		"WARNING: distpac N=4: 1 pieces failed their hash",
		"WARNING: distpac N=32: 3 pieces failed their hash",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "aria2 N=32:") {
		t.Errorf("a clean row is named below the table:\n%s", text)
	}
}

// TestPrintInstallCPU: a distpac row shows the part of its CPU its install
// processes took; a row of another method shows none.
func TestPrintInstallCPU(t *testing.T) {
	var out bytes.Buffer
	Print(&out, []Row{
		{Method: "distpac", N: 16, F: 16 << 20, Last: 9 * time.Second, Bound: 8 * time.Second, CPU: 7900 * time.Millisecond, InstallCPU: 1200 * time.Millisecond},
		{Method: "aria2", N: 16, F: 16 << 20, Last: 15 * time.Second, Bound: 8 * time.Second, CPU: 3400 * time.Millisecond},
	})
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || !strings.HasSuffix(strings.TrimSpace(lines[0]), "CPU  install CPU") {
		t.Fatalf("header: want the install CPU column last:\n%s", out.String())
	}
	for _, c := range []struct {
		line            string
		cpu, installCPU string
	}{{lines[1], "7.9s", "1.2s"}, {lines[2], "3.4s", "-"}} {
		f := strings.Fields(c.line)
		if len(f) < 2 || f[len(f)-2] != c.cpu || f[len(f)-1] != c.installCPU {
			t.Errorf("row %q: want CPU %s, install CPU %s", c.line, c.cpu, c.installCPU)
		}
	}
}

// TestProbeMachine: the probe gives a positive cost for each kind of kernel work, under a
// millisecond on any machine the suite runs on, and the header names both; a probe that
// failed shows as "?", not as zero.
func TestProbeMachine(t *testing.T) {
	m := ProbeMachine()
	for name, d := range map[string]time.Duration{"system call": m.Syscall, "page fault": m.PageFault} {
		if d <= 0 || d > time.Millisecond {
			t.Errorf("%s: %v, want in (0, 1ms]", name, d)
		}
	}
	s := m.String()
	if strings.Count(s, "µs") != 2 || strings.Contains(s, "?") {
		t.Errorf("header %q: want two figures in µs", s)
	}
	if s := (MachineCost{Syscall: 1500 * time.Nanosecond}).String(); !strings.Contains(s, "a system call 1.50 µs") || !strings.Contains(s, "first touch ?") {
		t.Errorf("header of a failed page probe: %q", s)
	}
}

// TestCompareArchives: the same bytes are the same archive; the same tar
// stream in other zstd frames is another archive but no error; another
// stream is an error naming both files.
func TestCompareArchives(t *testing.T) {
	dir := t.TempDir()
	stream := bytes.Repeat([]byte("a tar stream, or as good as one for zstd\n"), 50000)
	frames := func(cuts ...int) []byte {
		var out bytes.Buffer
		prev := 0
		for _, c := range append(cuts, len(stream)) {
			enc, err := zstd.NewWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			enc.Write(stream[prev:c])
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			prev = c
		}
		return out.Bytes()
	}
	changed := bytes.Clone(stream)
	changed[1000] = 'X'
	var other bytes.Buffer
	enc, _ := zstd.NewWriter(&other)
	enc.Write(changed)
	enc.Close()
	files := map[string][]byte{"one": frames(), "one-again": frames(), "two": frames(len(stream) / 2), "other": other.Bytes()}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		a, b    string
		same    bool
		wantErr bool
	}{
		{"one", "one-again", true, false},
		{"one", "two", false, false},
		{"one", "other", false, true},
	}
	for _, tt := range tests {
		same, err := compareArchives(context.Background(), filepath.Join(dir, tt.a), filepath.Join(dir, tt.b))
		if same != tt.same || (err != nil) != tt.wantErr {
			t.Errorf("%s, %s: %v, %v; want %v, error %v", tt.a, tt.b, same, err, tt.same, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), tt.b) {
			t.Errorf("%s, %s: the error does not name the file: %v", tt.a, tt.b, err)
		}
	}
}

// TestServerReadyAfterVerifying: a server.json that said verifying, then
// was written again without it (omitempty), reads ready; the bench's wait
// decoded each read over the last, kept Verifying and timed out.
func TestServerReadyAfterVerifying(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.json")
	for _, tc := range []struct {
		json string
		want bool
	}{
		{`{"control":"http://127.0.0.1:1","verifying":true}`, false},
		{`{"control":"http://127.0.0.1:1"}`, true},
		{`{"control":"http://127.0.0.1:1","filling":true}`, false},
		{`{"pid":1}`, false},
	} {
		if err := os.WriteFile(path, []byte(tc.json), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, ok := serverReady(path); ok != tc.want {
			t.Errorf("server.json %s: ready %v, want %v", tc.json, ok, tc.want)
		}
	}
}
