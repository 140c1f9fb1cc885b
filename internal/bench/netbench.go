//go:build linux

package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/deathsig"
)

// bench-net (`make bench-net`, dist-bench -net): the swarm benchmark on a
// network of hosts. For each N and round-trip time the benchmark
// re-executes itself under `unshare --net --mount` with netRowFlag; that
// child builds the hosts (netlab.go), measures the round trip, runs each
// method on them in turn and prints its rows as JSON on stdout, its
// progress on stderr.

// netRowFlag, as the first argument of dist-bench, runs the rows of one
// lab inside fresh network and mount namespaces (internal use).
const netRowFlag = "-internal-net-rows"

// Methods bench-net runs.
const (
	methodDistpac      = "distpac"
	methodAria2        = "aria2"
	methodTransmission = "transmission"
)

var netMethods = []string{methodDistpac, methodAria2, methodTransmission}

// netSpec is what the parent hands the child in DIR/spec.json.
type netSpec struct {
	N        int
	RTT      time.Duration
	MTU      int
	F, U, UC int64
	Methods  []string
	Timeout  time.Duration
	BinDir   string
	Pkg      string
	// The parent's namespaces: the child refuses to build the lab unless
	// it runs in others.
	ParentNetns, ParentMntns string
}

// netResult is the child's answer on stdout.
type netResult struct {
	Rows []Row
	Err  string `json:",omitempty"`
}

// ErrNetSkipped is returned by Run when bench-net cannot run on this
// machine; Main prints why and exits 0.
var ErrNetSkipped = errors.New("bench-net skipped")

// netMethodsAvailable drops the methods whose programs are missing, saying
// so.
func netMethodsAvailable(methods []string, stderr io.Writer) []string {
	var out []string
	for _, m := range methods {
		switch {
		case m == methodAria2 && !haveAria2():
			fmt.Fprintf(stderr, "dist-bench: leaving out aria2: aria2c is not on PATH\n")
		case m == methodTransmission && !haveTransmission():
			fmt.Fprintf(stderr, "dist-bench: leaving out Transmission: transmission-daemon is not on PATH\n")
		default:
			out = append(out, m)
		}
	}
	return out
}

// runNet measures every bench-net row: for each N and RTT, one child.
func runNet(ctx context.Context, o Options, work, pkg string) ([]Row, error) {
	o.Methods = netMethodsAvailable(o.Methods, o.Stderr)
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.BinDir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Stderr, "bench-net: links: publisher %s/s, clients %s/s (tbf), MTU %d; distpac's publisher has upload_rate_limit %s/s, 25%% above its link, to declare its uplink scarce; the others run uncapped\n",
		sz(o.U), sz(o.u), cmp.Or(o.MTU, defaultLabMTU), sz(o.serverCap()))
	var rows []Row
	var errs []error
	for _, n := range o.Ns {
		for _, rtt := range o.RTTs {
			if ctx.Err() != nil {
				return rows, errors.Join(append(errs, ctx.Err())...)
			}
			dir := filepath.Join(work, fmt.Sprintf("net-%d-%s", n, rtt))
			spec := netSpec{N: n, RTT: rtt, MTU: o.MTU, F: o.F, U: o.U, UC: o.u, Methods: o.Methods, Timeout: o.Timeout, BinDir: bin, Pkg: pkg}
			r, err := runNetChild(ctx, exe, dir, spec, o.Stderr)
			rows = append(rows, r...)
			if err != nil {
				errs = append(errs, fmt.Errorf("N=%d RTT=%s: %w", n, rtt, err))
			}
		}
	}
	return rows, errors.Join(errs...)
}

// runNetChild runs one lab's rows in a child under unshare.
func runNetChild(ctx context.Context, exe, dir string, spec netSpec, stderr io.Writer) ([]Row, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var err error
	if spec.ParentNetns, err = os.Readlink("/proc/self/ns/net"); err != nil {
		return nil, err
	}
	if spec.ParentMntns, err = os.Readlink("/proc/self/ns/mnt"); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "spec.json"), b, 0o644); err != nil {
		return nil, err
	}
	// The child bounds each row by spec.Timeout; the margin covers building
	// the lab and stopping every program before we force it.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(spec.Methods))*(spec.Timeout+30*time.Second)+time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--", exe, netRowFlag, dir)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	// unshare execs the benchmark in place, so this PID is the child's: a
	// SIGTERM lets it stop its programs, and it gets one if we die.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	runErr := deathsig.Run(cmd, syscall.SIGTERM)
	var res netResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("bench-net child: no result: %w", err))
	}
	if res.Err != "" {
		return res.Rows, errors.New(res.Err)
	}
	return res.Rows, runErr
}

// netRowsMain is the child: inside its namespaces it reads DIR/spec.json,
// runs the rows and prints a netResult on stdout.
func netRowsMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintf(stderr, "dist-bench: %s wants one directory\n", netRowFlag)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := netChild(ctx, args[0], stderr)
	res := netResult{Rows: rows}
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Fprintf(stdout, "%s\n", b)
	if err != nil {
		return 1
	}
	return 0
}

func netChild(ctx context.Context, dir string, logw io.Writer) ([]Row, error) {
	var s netSpec
	b, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err == nil {
		err = json.Unmarshal(b, &s)
	}
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	if s.N < 1 || s.F <= 0 || s.U <= 0 || s.UC <= 0 || s.Timeout <= 0 || s.RTT < 0 {
		return nil, fmt.Errorf("%s: want positive N, F, U, UC and Timeout, and RTT ≥ 0", filepath.Join(dir, "spec.json"))
	}
	t0 := time.Now()
	lab, err := newNetLab(dir, labSpec{Clients: s.N, U: s.U, u: s.UC, RTT: s.RTT, MTU: s.MTU}, s.ParentNetns, s.ParentMntns)
	if err != nil {
		return nil, err
	}
	defer lab.close()
	lay := lab.layout()
	probe, err := measureRTT(ctx, lay.clients[0], lay.publisher)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %d hosts up in %.1fs; round trip client to publisher: %v\n",
		s.N, s.RTT, len(lab.hosts), time.Since(t0).Seconds(), probe)
	o := Options{Net: true, Ns: []int{s.N}, F: s.F, U: s.U, u: s.UC, BinDir: s.BinDir, Timeout: s.Timeout, Stdout: io.Discard, Stderr: logw}
	var rows []Row
	var errs []error
	for _, m := range s.Methods {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s ...\n", s.N, s.RTT, m)
		mdir := filepath.Join(dir, m)
		if err := os.MkdirAll(mdir, 0o755); err != nil {
			return rows, err
		}
		if lab.delay != nil {
			lab.delay.resetStats()
		}
		tcp0, tcpErr := lab.clientsTCP()
		pubDrops0, clientDrops0, dropsErr := lab.drops()
		var r Row
		var err error
		switch m {
		case methodDistpac:
			r, err = runDistpac(ctx, o, lay, s.Pkg, mdir)
		case methodAria2:
			r, err = runAria2(ctx, o, lay, s.Pkg, mdir)
		case methodTransmission:
			r, err = runTransmissionNet(ctx, o, s, lay, mdir)
		default:
			err = fmt.Errorf("unknown method %q (want one of %s)", m, strings.Join(netMethods, ", "))
		}
		r.Method, r.N, r.F, r.U, r.UC, r.Bound = m, s.N, s.F, s.U, s.UC, Bound(s.N, s.F, s.U, s.UC)
		r.Net, r.RTT, r.MTU = true, s.RTT, lab.mtu
		if r.RTTProbes == 0 { // a row that failed early, or shorter than a probe
			r.MeasuredRTT, r.MeasuredRTT90 = probe.Median, probe.Max
		}
		if err != nil {
			r.Err = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s FAILED: %v\n", s.N, s.RTT, m, err)
		} else {
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: %.2fs = %.2f×T_min, publisher egress %.3f F (BitTorrent payload %.3f F), queue %s, a client threw away at most %.3f F; round trip during the row %.1f ms, 90%% under %.1f ms (%d probes); publisher link use by second: %s; clients' links together: %s; clients sending under half their rate: %s\n",
				s.N, s.RTT, m, r.Last.Seconds(), r.Last.Seconds()/r.Bound.Seconds(), r.ServerUp, r.ServerPayload, cmp.Or(r.Queue, "-"), r.WastedMax,
				ms(r.MeasuredRTT), ms(r.MeasuredRTT90), r.RTTProbes, percents(r.PublisherUse), percents(r.ClientsUse), counts(r.ClientsIdle))
		}
		if pub, cl, err := lab.drops(); dropsErr == nil && err == nil {
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: packets the links' tbf dropped: publisher %d, clients %d\n", s.N, s.RTT, m, pub-pubDrops0, cl-clientDrops0)
		} else {
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: the links' tbf drops: %v\n", s.N, s.RTT, m, errors.Join(dropsErr, err))
		}
		if tcp1, err := lab.clientsTCP(); tcpErr == nil && err == nil {
			d := tcp1.sub(tcp0)
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: the clients' TCP: %d segments sent, %d of them again (%.2f%%), %d retransmission timeouts\n",
				s.N, s.RTT, m, d.OutSegs, d.RetransSegs, 100*float64(d.RetransSegs)/float64(max(1, d.OutSegs)), d.Timeouts)
		} else {
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: the clients' TCP counters: %v\n", s.N, s.RTT, m, errors.Join(tcpErr, err))
		}
		if lab.delay != nil {
			fmt.Fprintf(logw, "bench-net N=%d RTT=%s: %s: delay line: %v\n", s.N, s.RTT, m, lab.delay.stats())
		}
		rows = append(rows, r)
	}
	return rows, errors.Join(errs...)
}

// runTransmissionNet runs the Transmission row on the lab's hosts, its
// daemons uncapped (the links have their rates), its progress lines in
// the method's directory.
func runTransmissionNet(ctx context.Context, o Options, s netSpec, lay layout, dir string) (Row, error) {
	logf, err := os.Create(filepath.Join(dir, "progress.log"))
	if err != nil {
		return Row{}, err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return trScenario(ctx, trSpec{N: s.N, F: s.F, U: s.U, UC: s.UC, Timeout: o.Timeout, BinDir: s.BinDir, Pkg: s.Pkg, NoCaps: true}, lay, dir, logf)
}

// percents shows link use by second: "12 95 97 ... %".
func percents(p []int) string {
	return counts(p) + " %"
}

// counts shows a count by second: "32 25 12 ...".
func counts(p []int) string {
	var b strings.Builder
	for i, v := range p {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d", v)
	}
	return b.String()
}

// parseMethods reads -methods.
func parseMethods(text string) ([]string, error) {
	var out []string
	for _, m := range strings.Split(text, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(netMethods, m) {
			return nil, fmt.Errorf("method %q: want some of %s", m, strings.Join(netMethods, ","))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// parseRTTs reads -rtt: durations such as 0,20ms,100ms (a bare 0 is 0).
func parseRTTs(text string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(text, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 || d > 2*time.Second {
			return nil, fmt.Errorf("round trip %q: want a duration from 0 to 2s, such as 20ms", f)
		}
		out = append(out, d)
	}
	return out, nil
}
