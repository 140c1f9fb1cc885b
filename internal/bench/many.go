//go:build linux

package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distpac/distpac/internal/server"
)

// The many-packages rows (issue 11): one fresh client installs N small
// packages (1–64 KiB each) from one seeder on loopback, then one more with
// the others installed, and a seeder with S published packages starts. Targets: 250 packages in ≤ 5 s, 1,000 in
// ≤ 15 s with the install's peak RSS ≤ 128 MiB; a 10,000-package seeder
// ready in ≤ 5 s under 256 MiB.

// ManyRow is one many-packages measurement.
type ManyRow struct {
	What     string // "install", "one more with" (Packages installed) or "seeder start"
	Packages int
	Time     time.Duration
	PeakRSS  int64         // the install's (or the seeder's) peak RSS
	CPU      time.Duration // the install's CPU (or the seeder's, at start)
	SeedCPU  time.Duration // the seeder's CPU during the install
	Err      string
}

// writeSmallPackages writes n packages p00001… with one file of 1–64 KiB
// each and no scripts (assets/ is installed as the tree), under dir, and
// returns their directories.
func writeSmallPackages(dir string, n int, seed uint64) ([]string, error) {
	r := rand.New(rand.NewPCG(seed, 11))
	var dirs []string
	for i := 1; i <= n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("p%05d", i))
		share := filepath.Join(d, "assets", "share", fmt.Sprintf("p%05d", i))
		if err := os.MkdirAll(share, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "manifest.yaml"), fmt.Appendf(nil, "name: p%05d\nversion: 1.0.0\n", i), 0o644); err != nil {
			return nil, err
		}
		data := make([]byte, 1<<10+r.IntN(63<<10))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(share, "data.bin"), data, 0o644); err != nil {
			return nil, err
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// addInBatches publishes dirs with dist-server add, a few hundred at a
// time (command lines have a limit).
func addInBatches(env []string, srvBin, cfg string, dirs []string) error {
	const batch = 500
	for i := 0; i < len(dirs); i += batch {
		args := append([]string{"--config", cfg, "add", "-q"}, dirs[i:min(i+batch, len(dirs))]...)
		if err := run(env, srvBin, args...); err != nil {
			return err
		}
	}
	return nil
}

// startServer starts dist-server in the background and waits until it is
// ready; it returns the process and the time it took.
func startServer(ctx context.Context, dir string, env []string, srvBin, cfg string) (*proc, server.Info, time.Duration, error) {
	t0 := time.Now()
	srv, err := startProc(filepath.Join(dir, "server.log"), env, 0, srvBin, "--config", cfg, "start", "--foreground")
	if err != nil {
		return nil, server.Info{}, 0, err
	}
	var info server.Info
	home := filepath.Join(dir, "srv", "distpac", "server")
	err = waitUntil(ctx, 2*time.Minute, "dist-server", func() bool {
		var ok bool
		info, ok = serverReady(filepath.Join(home, "server.json"))
		return ok
	})
	if err != nil {
		srv.stop()
		return nil, info, 0, err
	}
	return srv, info, time.Since(t0), nil
}

// loopbackServerYAML is a server.yaml with the catalog, tracker and peer
// ports (in that order) on 127.0.0.1.
func loopbackServerYAML(ports []int) []byte {
	return fmt.Appendf(nil, "database_addr: \"127.0.0.1:%d\"\ntracker_addr: \"127.0.0.1:%d\"\npeer_addr: \"127.0.0.1:%d\"\n", ports[0], ports[1], ports[2])
}

// loopbackClientYAML is a client.yaml for the server whose catalog is at
// 127.0.0.1:port, installing under prefix.
func loopbackClientYAML(port int, prefix string) []byte {
	return fmt.Appendf(nil, "server_url: \"http://127.0.0.1:%d\"\nprefix: \"%s\"\npeer_addr: \"127.0.0.1:0\"\n", port, prefix)
}

// manyClient is the client of the many-packages rows: its binary, config
// and environment.
type manyClient struct {
	bin, cfg string
	env      []string
}

func (c manyClient) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"--config", c.cfg}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	return cmd
}

// run runs the client with args to the end (run's error names its output).
func (c manyClient) run(args ...string) error {
	return run(c.env, c.bin, append([]string{"--config", c.cfg}, args...)...)
}

// runMany measures one fresh client installing n packages, then installing
// one of them again with the others installed (oneMore); a row that
// failed says why (Err).
func runMany(ctx context.Context, binDir, dir string, n int) ([]ManyRow, error) {
	row := ManyRow{What: "install", Packages: n}
	fail := func(err error) ([]ManyRow, error) {
		row.Err = err.Error()
		return []ManyRow{row}, err
	}
	srv, ports, _, err := publishAndStart(ctx, binDir, dir, n, uint64(n))
	if err != nil {
		return fail(err)
	}
	defer srv.stop()
	c := manyClient{bin: filepath.Join(binDir, "dist-client"), cfg: filepath.Join(dir, "client.yaml"), env: []string{"XDG_DATA_HOME=" + filepath.Join(dir, "cli")}}
	os.WriteFile(c.cfg, loopbackClientYAML(ports[0], filepath.Join(dir, "prefix")), 0o644)
	if err := c.run("sync", "-q"); err != nil {
		return fail(err)
	}
	if err := installMany(ctx, c, srv, dir, &row); err != nil {
		return fail(err)
	}
	more, err := oneMore(ctx, c, n)
	if err != nil {
		more.Err = err.Error()
	}
	return []ManyRow{row, more}, err
}

// oneMore measures what an install costs on a client with n-1 packages
// installed: p00001 is uninstalled and installed again from the cache
// three times, and the row has the median time and CPU. What it reads of
// the installed state (the records, each installed package's versions,
// the owners of its paths) grows with what is installed, not with it.
func oneMore(ctx context.Context, c manyClient, n int) (ManyRow, error) {
	row := ManyRow{What: "one more with", Packages: n - 1}
	var times, cpus []time.Duration
	for range 3 {
		if err := c.run("uninstall", "-q", "p00001"); err != nil {
			return row, err
		}
		cmd := c.command(ctx, "install", "-q", "p00001")
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return row, fmt.Errorf("install of one more with %d installed: %v: %s", n-1, err, lastLine(out))
		}
		times = append(times, time.Since(t0))
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
	}
	slices.Sort(times)
	slices.Sort(cpus)
	row.Time, row.CPU = times[1], cpus[1]
	return row, nil
}

// installMany installs row.Packages packages with c, a fresh client of
// srv, and fills in the row.
func installMany(ctx context.Context, c manyClient, srv *proc, dir string, row *ManyRow) error {
	names := make([]string, row.Packages)
	for i := range names {
		names[i] = fmt.Sprintf("p%05d", i+1)
	}
	seedCPU0 := cpuTime(srv.cmd.Process.Pid)
	cmd := c.command(ctx, append([]string{"install", "-q"}, names...)...)
	logf, err := os.Create(filepath.Join(dir, "install.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	var werr error
	row.PeakRSS = watchPeakRSS(cmd.Process.Pid, func() { werr = cmd.Wait() })
	row.Time = time.Since(t0)
	row.SeedCPU = cpuTime(srv.cmd.Process.Pid) - seedCPU0
	if ps := cmd.ProcessState; ps != nil {
		row.CPU = ps.UserTime() + ps.SystemTime()
	}
	if werr != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "install.log"))
		return fmt.Errorf("install of %d packages: %v: %s", row.Packages, werr, lastLine(b))
	}
	return nil
}

// runSeederStart measures a seeder with n published packages starting.
func runSeederStart(ctx context.Context, binDir, dir string, n int) (ManyRow, error) {
	row := ManyRow{What: "seeder start", Packages: n}
	srv, _, took, err := publishAndStart(ctx, binDir, dir, n, uint64(n)+7)
	if err != nil {
		return row, err
	}
	row.Time = took
	time.Sleep(time.Second) // the first status and metrics settle
	row.PeakRSS = peakRSS(srv.cmd.Process.Pid)
	row.CPU = cpuTime(srv.cmd.Process.Pid)
	srv.stop()
	return row, nil
}

// publishAndStart publishes n small packages in a new server home under
// dir and starts the server on free loopback ports (catalog, tracker,
// seeder), returning it, its ports and how long the start took.
func publishAndStart(ctx context.Context, binDir, dir string, n int, seed uint64) (*proc, []int, time.Duration, error) {
	srvBin := filepath.Join(binDir, "dist-server")
	ports, err := freePorts(3)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, 0, err
	}
	scfg := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(scfg, loopbackServerYAML(ports), 0o644); err != nil {
		return nil, nil, 0, err
	}
	senv := []string{"XDG_DATA_HOME=" + filepath.Join(dir, "srv")}
	dirs, err := writeSmallPackages(filepath.Join(dir, "pkgs"), n, seed)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := addInBatches(senv, srvBin, scfg, dirs); err != nil {
		return nil, nil, 0, err
	}
	srv, _, took, err := startServer(ctx, dir, senv, srvBin, scfg)
	return srv, ports, took, err
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// RunMany measures the install rows for each count in installs and the
// seeder start for each count in seeders.
func RunMany(ctx context.Context, binDir string, installs, seeders []int, keep bool, progress io.Writer) ([]ManyRow, error) {
	work, err := os.MkdirTemp("", "distpac-bench-many-")
	if err != nil {
		return nil, err
	}
	if keep {
		fmt.Fprintf(progress, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	var rows []ManyRow
	var firstErr error
	note := func(r ManyRow, err error) {
		if err != nil {
			r.Err = err.Error()
			if firstErr == nil {
				firstErr = err
			}
		}
		rows = append(rows, r)
	}
	for _, n := range installs {
		fmt.Fprintf(progress, "many packages: install of %d ...\n", n)
		rs, err := runMany(ctx, binDir, filepath.Join(work, "install-"+strconv.Itoa(n)), n)
		rows = append(rows, rs...)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for _, n := range seeders {
		fmt.Fprintf(progress, "many packages: seeder start with %d ...\n", n)
		note(runSeederStart(ctx, binDir, filepath.Join(work, "seeder-"+strconv.Itoa(n)), n))
	}
	return rows, firstErr
}

// PrintMany prints the many-packages rows.
func PrintMany(w io.Writer, rows []ManyRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "what\tpackages\ttime\tpeak RSS\tCPU\tseeder CPU\t")
	for _, r := range rows {
		seed := "-"
		if r.What == "install" && r.SeedCPU > 0 {
			seed = fmtSeconds(r.SeedCPU)
		}
		took, cpu := fmtSeconds(r.Time), fmtSeconds(r.CPU)
		if r.Err != "" {
			took, cpu = "-", "-" // not a measurement
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t", r.What, r.Packages, took, fmtMiB(r.PeakRSS), cpu, seed)
		if r.Err != "" {
			line += " error: " + clipText(r.Err, 300)
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

func fmtSeconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s" }

func fmtMiB(b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "MiB"
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
