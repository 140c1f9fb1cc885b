//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/deathsig"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/server"
)

// startTracker publishes pkg in a dist-server home under dir configured by
// serverYAML, starts that server on h as a tracker only (no seeder, no
// catalog over HTTP) and waits until it serves. It returns the server, the
// package's catalog row and the path of its archive.
func startTracker(ctx context.Context, binDir, pkg, dir, serverYAML string, h host) (*proc, catalog.Package, string, error) {
	srvBin := filepath.Join(binDir, "dist-server")
	sdir := filepath.Join(dir, "tracker")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return nil, catalog.Package{}, "", err
	}
	scfg := filepath.Join(sdir, "server.yaml")
	if err := os.WriteFile(scfg, []byte(serverYAML), 0o644); err != nil {
		return nil, catalog.Package{}, "", err
	}
	senv := []string{"XDG_DATA_HOME=" + sdir}
	if err := run(senv, srvBin, "--config", scfg, "add", "-q", pkg); err != nil {
		return nil, catalog.Package{}, "", err
	}
	srv, err := h.start(filepath.Join(dir, "tracker.log"), senv, srvBin, "--config", scfg, "start", "--foreground", "--no-seeder", "--no-database")
	if err != nil {
		return nil, catalog.Package{}, "", err
	}
	home := filepath.Join(sdir, "distpac", "server")
	row, err := func() (catalog.Package, error) {
		if err := waitUntil(ctx, 30*time.Second, "tracker", func() bool {
			_, ok := serverReady(filepath.Join(home, "server.json"))
			return ok
		}); err != nil {
			return catalog.Package{}, err
		}
		db, err := catalog.Open(ctx, filepath.Join(home, "catalog.db"))
		if err != nil {
			return catalog.Package{}, err
		}
		pkgs, err := db.All(ctx)
		db.Close()
		if err != nil {
			return catalog.Package{}, fmt.Errorf("catalog: %w", err)
		}
		if len(pkgs) != 1 {
			return catalog.Package{}, fmt.Errorf("catalog: want 1 package, have %d", len(pkgs))
		}
		return pkgs[0], nil
	}()
	if err != nil {
		srv.stop()
		return nil, catalog.Package{}, "", err
	}
	return srv, row, filepath.Join(home, "archives", row.Archive), nil
}

// runDistpac: one dist-server, N daemons (so finished clients keep
// seeding, as DESIGN §6 has it), N concurrent `dist-client install`, each
// on its host of lay.
func runDistpac(ctx context.Context, o Options, lay layout, pkg, dir string) (Row, error) {
	var row Row
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	n := len(lay.clients)
	pub := lay.publisher
	srvBin, cliBin := filepath.Join(o.BinDir, "dist-server"), filepath.Join(o.BinDir, "dist-client")
	ports, err := freePorts(3)
	if err != nil {
		return row, err
	}
	sdir := filepath.Join(dir, "server")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return row, err
	}
	scfg := filepath.Join(sdir, "server.yaml")
	os.WriteFile(scfg, fmt.Appendf(nil, "database_addr: \"%[1]s:%[2]d\"\ntracker_addr: \"%[1]s:%[3]d\"\npeer_addr: \"%[1]s:%[4]d\"\n%[5]s",
		pub.addr, ports[0], ports[1], ports[2], rateLimitYAML(o.serverCap())), 0o644)
	senv := []string{"XDG_DATA_HOME=" + sdir}
	if err := run(senv, srvBin, "--config", scfg, "add", "-q", pkg); err != nil {
		return row, err
	}
	srv, err := pub.start(filepath.Join(dir, "server.log"), senv, srvBin, "--config", scfg, "start", "--foreground")
	if err != nil {
		return row, err
	}
	defer srv.stop()
	infoPath := filepath.Join(sdir, "distpac", "server", "server.json")
	var info server.Info
	if err := waitUntil(ctx, 30*time.Second, "dist-server to be ready", func() bool {
		var ok bool
		info, ok = serverReady(infoPath)
		return ok
	}); err != nil {
		return row, err
	}

	type client struct {
		host   host
		env    []string
		cfg    string
		sock   string
		daemon *proc
	}
	clients := make([]*client, n)
	for i, h := range lay.clients {
		cdir := filepath.Join(dir, fmt.Sprintf("c%02d", i))
		os.MkdirAll(cdir, 0o755)
		c := &client{host: h, env: []string{"XDG_DATA_HOME=" + cdir}, cfg: filepath.Join(cdir, "client.yaml"),
			sock: filepath.Join(cdir, "distpac", "client", "daemon.sock")}
		os.WriteFile(c.cfg, fmt.Appendf(nil, "server_url: \"http://%s:%d\"\nprefix: \"%s\"\npeer_addr: \"%s:0\"\n%s",
			pub.addr, ports[0], filepath.Join(cdir, "prefix"), h.addr, rateLimitYAML(o.peerCap(o.u))), 0o644)
		if out, err := deathsig.CombinedOutput(h.command(ctx, c.env, cliBin, "--config", c.cfg, "sync", "-q"), syscall.SIGKILL); err != nil {
			return row, fmt.Errorf("client %d: sync: %v: %s", i, err, bytes.TrimSpace(out))
		}
		c.daemon, err = h.start(filepath.Join(cdir, "daemon.log"), c.env, cliBin, "--config", c.cfg, "daemon")
		if err != nil {
			return row, err
		}
		defer c.daemon.stop()
		clients[i] = c
	}
	for i, c := range clients {
		if err := waitUntil(ctx, 30*time.Second, "dist-client daemon", func() bool { return daemon.Dial(ctx, c.sock) != nil }); err != nil {
			log := filepath.Join(dir, fmt.Sprintf("c%02d", i), "daemon.log")
			return row, fmt.Errorf("client %d: %w (log %s: %s)", i, err, log, tail(log, 300))
		}
	}
	control := nsHTTPClient(pub)
	up0, err := serverUploaded(control, info.Control)
	if err != nil {
		return row, err
	}
	meter, err := lay.startMeter()
	if err != nil {
		return row, err
	}
	defer meter.stop()

	// All installs start together; each time runs from that common start.
	cpu := rowCPU{}
	cpu.start(srv)
	for _, c := range clients {
		cpu.start(c.daemon)
	}
	t0 := time.Now()
	times := make([]time.Duration, n)
	errs := make([]error, n)
	installRSS := make([]int64, n)
	installCPU := make([]time.Duration, n)
	figures := make([]transferFigs, n)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rssFile := filepath.Join(dir, fmt.Sprintf("c%02d", i), "install.rss")
			env := append(slices.Clip(c.env), cli.PeakRSSEnv+"="+rssFile)
			cmd := c.host.command(ctx, env, cliBin, "--config", c.cfg, "install", "--json", "benchpkg")
			var out, report bytes.Buffer
			cmd.Stdout, cmd.Stderr = &report, &out
			err := deathsig.Run(cmd, syscall.SIGKILL)
			times[i] = time.Since(t0)
			installRSS[i] = reportedPeakRSS(rssFile)
			if err != nil {
				errs[i] = fmt.Errorf("client %d: %v: %s", i, err, bytes.TrimSpace(out.Bytes()))
			}
			if cmd.ProcessState == nil {
				return
			}
			installCPU[i] = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			figures[i] = transferFigures(report.Bytes(), t0)
		}()
	}
	wg.Wait()
	var downloaded, firstByte []time.Duration
	for _, f := range figures {
		row.HashFailures += f.hashFailures
		row.WastedMax = max(row.WastedMax, float64(f.wasted)/float64(o.F))
		downloaded, firstByte = append(downloaded, f.downloaded), append(firstByte, f.firstByte)
	}
	for _, err := range errs {
		if err != nil {
			// Pieces that failed their hash at the other clients may be
			// why (a banned publisher leaves a client with no source).
			if row.HashFailures > 0 {
				err = fmt.Errorf("%w (and %d pieces failed their hash at the clients)", err, row.HashFailures)
			}
			return row, err
		}
	}
	if p, ok := phasesOf(figures, times); ok { // before summarise sorts times
		fmt.Fprintf(o.Stderr, "distpac N=%d: %s\n", n, p)
	}
	summarise(&row, times)
	row.Downloaded = slices.Max(downloaded)
	row.FirstByte = meanPositive(firstByte)
	up1, err := serverUploaded(control, info.Control)
	if err != nil {
		return row, err
	}
	row.ServerUp = float64(up1-up0) / float64(o.F)
	row.ServerPayload = row.ServerUp // the meter puts the kernel's count in ServerUp
	queues := make([]int, 0, n)
	for _, c := range clients {
		d := daemon.Dial(ctx, c.sock)
		if d == nil {
			continue
		}
		st, err := d.Status(ctx)
		if err == nil {
			row.ClientDownMax = max(row.ClientDownMax, float64(st.Downloaded)/float64(o.F))
			queues = append(queues, st.PublisherQueue)
		}
		row.PeakRSS = max(row.PeakRSS, peakRSS(c.daemon.cmd.Process.Pid))
		row.CPU += cpu.of(c.daemon)
	}
	row.Queue = queueRange(queues)
	row.CPU += cpu.of(srv)
	// The install processes (verify, extract, run the script) count too,
	// and are also shown apart.
	for i, r := range installRSS {
		row.InstallRSS = max(row.InstallRSS, r)
		row.InstallCPU += installCPU[i]
		row.CPU += installCPU[i]
	}
	// On the lab, what the links carried, counted by the kernel.
	return row, meter.finish(&row, o.F, o.U, o.u)
}

// serverReady reads a dist-server's server.json at path: ok once it
// serves (Control set) and is no longer starting (a publisher checking its
// archives, a mirror filling). Each read decodes into a new Info: one
// decoded over the last kept its Verifying, which a later server.json
// leaves out (omitempty), and the wait never ended.
func serverReady(path string) (server.Info, bool) {
	var info server.Info
	b, err := os.ReadFile(path)
	ok := err == nil && json.Unmarshal(b, &info) == nil && info.Control != "" && !info.Starting()
	return info, ok
}

// installReport parses the --json output of dist-client install.
func installReport(b []byte) (install.Summary, error) {
	var s install.Summary
	err := json.Unmarshal(b, &s)
	return s, err
}

// transferFigs is what the bench reads from one install's --json report
// (transferFigures).
type transferFigs struct {
	wasted       int64 // payload thrown away
	hashFailures int   // pieces that failed their hash
	// From the run's start: when the first download started (the
	// engine's start, Ended - Elapsed: the install had asked its daemon),
	// when the first payload byte came, and when the last download ended;
	// 0 when none is reported.
	started, firstByte, downloaded time.Duration
}

// transferFigures reads an install's --json report, over every archive
// (zero figures for a report that is not one).
func transferFigures(report []byte, t0 time.Time) transferFigs {
	var f transferFigs
	s, err := installReport(report)
	if err != nil || s.Transfer == nil {
		return f
	}
	for _, a := range s.Transfer.Archives {
		f.wasted += a.Wasted
		f.hashFailures += a.HashFailures
		if a.Ended.IsZero() {
			continue
		}
		f.downloaded = max(f.downloaded, a.Ended.Sub(t0))
		// The engine's start is Ended - Elapsed, on the same clock.
		start := a.Ended.Add(-a.Elapsed).Sub(t0)
		if f.started == 0 || start < f.started {
			f.started = start
		}
		if a.FirstByte > 0 {
			fb := start + a.FirstByte
			if f.firstByte == 0 || fb < f.firstByte {
				f.firstByte = fb
			}
		}
	}
	return f
}

// phasesOf says where a distpac row's time went, from its installs'
// figures and their ends (times, from the run's start): when the
// downloads started, how long they took, and how long after its download
// each install ended. On the lab's two cores N installs start at once
// (runtime, package inits, the databases and the plan, each about 45 ms
// of CPU) and end together (the rest of the extraction, the script, the
// record), so the first and the last phase are where the machine, not
// the swarm, sets the pace. ok is false when a figure is missing.
func phasesOf(figs []transferFigs, times []time.Duration) (string, bool) {
	var started, took, tail []time.Duration
	for i, f := range figs {
		if f.started <= 0 || f.downloaded <= 0 || i >= len(times) {
			return "", false
		}
		started = append(started, f.started)
		took = append(took, f.downloaded-f.started)
		tail = append(tail, times[i]-f.downloaded)
	}
	if len(started) == 0 {
		return "", false
	}
	span := func(ds []time.Duration) string {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		return fmt.Sprintf("%.2f-%.2f s (mean %.2f)", slices.Min(ds).Seconds(), slices.Max(ds).Seconds(), (sum / time.Duration(len(ds))).Seconds())
	}
	return fmt.Sprintf("downloads started %s after the row's start and took %s; installs ended %s after their download",
		span(started), span(took), span(tail)), true
}

// meanPositive is the mean of the durations above 0, or 0.
func meanPositive(ds []time.Duration) time.Duration {
	var sum time.Duration
	n := 0
	for _, d := range ds {
		if d > 0 {
			sum += d
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// rateLimitYAML is the upload_rate_limit line of a config, or nothing for
// no cap.
func rateLimitYAML(bps int64) string {
	if bps <= 0 {
		return ""
	}
	return fmt.Sprintf("upload_rate_limit: \"%d\"\n", bps)
}

// queueRange shows the request queue depths clients kept at the
// publisher: "4", or "5–8" when they differ; "-" when none was seen.
func queueRange(depths []int) string {
	lo, hi := 0, 0
	for _, d := range depths {
		if d <= 0 {
			continue
		}
		if lo == 0 || d < lo {
			lo = d
		}
		hi = max(hi, d)
	}
	switch {
	case hi == 0:
		return "-"
	case lo == hi:
		return fmt.Sprint(lo)
	default:
		return fmt.Sprintf("%d–%d", lo, hi)
	}
}

func serverUploaded(hc *http.Client, control string) (int64, error) {
	resp, err := hc.Get(control + "/status")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st server.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, err
	}
	return st.Uploaded, nil
}
