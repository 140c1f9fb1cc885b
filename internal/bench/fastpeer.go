//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/distpac/distpac/internal/cli"
)

// The one-fast-peer rows (issue 12 point 3): one client installs one big
// package from one local, unthrottled seeder. Beside it, in the same run,
// what a user could do by hand with standard tools: curl of the same
// archive from the server's web seed, sha256sum of it, and zstd -d | tar -x
// into a fresh directory. Targets: the install's download at least
// 500 MiB/s, the whole install at most 2 × the three tools' sum.

// FastRow is one run of the one-fast-peer benchmark.
type FastRow struct {
	Run                   int
	ToolsFirst            bool // the tools ran before the install
	Load                  string
	Curl, Sha256, Unpack  time.Duration // the tools, one after another
	Install               time.Duration // dist-client install, whole
	Archive, FromSeeder   int64         // the archive's bytes, and those the seeder sent
	Download              time.Duration // the install's download (its transfer report)
	InstallCPU, SeederCPU time.Duration
	InstallRSS            int64
}

func (r FastRow) tools() time.Duration { return r.Curl + r.Sha256 + r.Unpack }

// fastMain runs the one-fast-peer rows: runs runs of a size-byte package.
func fastMain(ctx context.Context, size int64, runs int, binDir string, keep, jsonOut bool, stdout, stderr io.Writer) int {
	dir, done, ok := toolsAndWorkDir("-fast", keep, stderr, "curl", "zstd", "sha256sum", "tar")
	if !ok {
		return 1
	}
	defer done()
	rows, err := RunFast(ctx, dir, size, runs, binDir, keep, stderr)
	if jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
	} else {
		fmt.Fprintln(stdout, ProbeMachine())
		PrintFast(stdout, size, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return 1
	}
	return 0
}

// RunFast publishes a size-byte package under dir, starts its server
// without an upload cap and measures runs runs.
func RunFast(ctx context.Context, dir string, size int64, runs int, binDir string, keep bool, progress io.Writer) ([]FastRow, error) {
	pkg := filepath.Join(dir, "big")
	fmt.Fprintf(progress, "writing %d bytes of mixed content to %s\n", size, pkg)
	if err := writeMixedPackage(pkg, size); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	scfg := filepath.Join(dir, "server.yaml")
	if err := os.WriteFile(scfg, loopbackServerYAML(ports), 0o644); err != nil {
		return nil, err
	}
	srvBin, cliBin := filepath.Join(binDir, "dist-server"), filepath.Join(binDir, "dist-client")
	senv := []string{"XDG_DATA_HOME=" + filepath.Join(dir, "srv")}
	fmt.Fprintf(progress, "dist-server add ...\n")
	if err := run(senv, srvBin, "--config", scfg, "add", pkg); err != nil {
		return nil, err
	}
	srv, _, _, err := startServer(ctx, dir, senv, srvBin, scfg)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	url := fmt.Sprintf("http://127.0.0.1:%d/packages/big-1.0.0.tar.zst", ports[0])
	var rows []FastRow
	for r := 1; r <= runs; r++ {
		row := FastRow{Run: r, Load: loadAvg(), ToolsFirst: r%2 == 1}
		rdir := filepath.Join(dir, fmt.Sprintf("run%d", r))
		tdir, idir := filepath.Join(rdir, "tools"), filepath.Join(rdir, "install")
		for _, d := range []string{filepath.Join(tdir, "untar"), idir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return rows, err
			}
		}
		// The tools first and the install second in odd runs, the other
		// way round in even ones: neither always finds the other's pages.
		steps := []struct {
			dir string
			run func() error
		}{
			{tdir, func() error { return fastTools(ctx, &row, url, tdir) }},
			{idir, func() error { return fastInstall(ctx, &row, srv, cliBin, ports[0], idir) }},
		}
		if !row.ToolsFirst {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step.run(); err != nil {
				return rows, err
			}
			// What a step wrote goes before the next starts, so that both
			// write into the memory it freed. Kept, its 1.7 GiB made the
			// second step take fresh pages, which cost this virtual
			// machine ten times as much to fill: the install's copies into
			// the page cache took 4.7 s of CPU after the tools against
			// 0.46 s before them (perf, copy_folio_from_iter_atomic), and
			// the tools' unpack 4.5-5.5 s against 3.3 s.
			if !keep {
				if err := os.RemoveAll(step.dir); err != nil {
					fmt.Fprintf(progress, "cannot delete %s; the next step runs beside it: %v\n", step.dir, err)
				}
			}
		}
		rows = append(rows, row)
		if !keep {
			os.RemoveAll(rdir)
		}
		fmt.Fprintf(progress, "run %d done\n", r)
	}
	return rows, nil
}

// settle starts a measured command with nothing dirty in the page cache:
// the writeback of what the command before wrote (up to 2 GiB at 1 GiB)
// would otherwise land in its time.
func settle() { syscall.Sync() }

// fastTools times curl, sha256sum and zstd -d | tar -x, one after another.
func fastTools(ctx context.Context, row *FastRow, url, dir string) error {
	arc := filepath.Join(dir, "big.tar.zst")
	steps := []struct {
		d    *time.Duration
		name string
		args []string
	}{
		{&row.Curl, "curl", []string{"-sSf", "-o", arc, url}},
		{&row.Sha256, "sha256sum", []string{arc}},
		{&row.Unpack, "sh", []string{"-c", `zstd -d -q -c "$1" | tar -x -C "$2"`, "sh", arc, filepath.Join(dir, "untar")}},
	}
	for _, s := range steps {
		settle()
		var out bytes.Buffer
		t, err := timeCmd(ctx, nil, false, &out, s.name, s.args...)
		if err != nil {
			return fmt.Errorf("%w: %s", err, lastLine(out.Bytes()))
		}
		*s.d = t.Wall
	}
	return nil
}

// fastInstall syncs a fresh client and times its install of the package.
func fastInstall(ctx context.Context, row *FastRow, srv *proc, cliBin string, port int, dir string) error {
	ccfg := filepath.Join(dir, "client.yaml")
	if err := os.WriteFile(ccfg, loopbackClientYAML(port, filepath.Join(dir, "prefix")), 0o644); err != nil {
		return err
	}
	rss := filepath.Join(dir, "install.rss")
	cenv := []string{"XDG_DATA_HOME=" + filepath.Join(dir, "cli")}
	if err := run(cenv, cliBin, "--config", ccfg, "sync", "-q"); err != nil {
		return err
	}
	settle()
	seed0 := cpuTime(srv.cmd.Process.Pid)
	cmd := exec.CommandContext(ctx, cliBin, "--config", ccfg, "install", "--json", "big")
	cmd.Env = append(os.Environ(), append(cenv, cli.PeakRSSEnv+"="+rss)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	row.Install = time.Since(t0)
	row.SeederCPU = cpuTime(srv.cmd.Process.Pid) - seed0
	if err != nil {
		return fmt.Errorf("install: %v: %s", err, lastLine(stderr.Bytes()))
	}
	out := stdout.Bytes()
	row.InstallCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	row.InstallRSS = reportedPeakRSS(rss)
	rep, err := installReport(out)
	if err != nil || rep.Transfer == nil || len(rep.Transfer.Archives) != 1 {
		return fmt.Errorf("install report: want one archive's transfer, got %q (%v)", lastLine(out), err)
	}
	a := rep.Transfer.Archives[0]
	row.Archive, row.FromSeeder, row.Download = a.Total, a.FromSeeder, a.Elapsed
	return nil
}

// PrintFast prints the rows as a table.
func PrintFast(w io.Writer, size int64, rows []FastRow) {
	fmt.Fprintf(w, "one fast peer: install of a %s package (mixed content) from one local unthrottled seeder, beside curl + sha256sum + zstd -d | tar -x of the same archive\n", sz(size))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tfirst\tload\tarchive\tcurl\tsha256sum\tzstd -d | tar -x\ttools\tdownload\tMiB/s\tfrom seeder\tinstall\tinstall/tools\tinstall CPU\tseeder CPU\tinstall RSS\t")
	for _, r := range rows {
		rate := 0.0
		if r.Download > 0 {
			rate = float64(r.Archive) / (1 << 20) / r.Download.Seconds()
		}
		seeder := 0.0
		if r.Archive > 0 {
			seeder = float64(r.FromSeeder) / float64(r.Archive)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f%%\t%s\t%.2f\t%s\t%s\t%s\t\n",
			r.Run, first(r.ToolsFirst), r.Load, sz(r.Archive), secs(r.Curl), secs(r.Sha256), secs(r.Unpack), secs(r.tools()),
			secs(r.Download), rate, 100*seeder, secs(r.Install), r.Install.Seconds()/r.tools().Seconds(),
			secs(r.InstallCPU), secs(r.SeederCPU), sz(r.InstallRSS))
	}
	tw.Flush()
}

// first names what ran first in a run.
func first(toolsFirst bool) string {
	if toolsFirst {
		return "tools"
	}
	return "install"
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
