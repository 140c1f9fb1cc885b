//go:build linux

// Package bench is the swarm benchmark behind `make bench-swarm`
// (DESIGN.md §7): one real dist-server and N real dist-client processes on
// 127.0.0.1 install the same package of size F at once, with the server's
// upload capped at U and each client's at u; in the same run the same N
// clients fetch the archive over plain HTTP from a server capped at U, and,
// when aria2c, transmission-daemon and libtorrent's Python module are
// installed, aria2, Transmission (in a network namespace of its own) and
// libtorrent (twice: the second time with the seeder super-seeding) do the
// same swarm as seeder and leechers. It prints one row per method and N
// with the time until the last client is done and its ratio to the
// Kumar–Ross lower bound
// T_min = max(F/U, F/d, N·F/(U + N·u)) (d, the client download capacity, is
// unlimited here, so F/d = 0).
//
// `make bench-net` (-net) runs the same methods on a network of hosts
// instead: each host a network namespace with its own address, its upload
// rate set by the kernel and a round-trip time (netbench.go, netlab.go).
package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/distpac/distpac/internal/units"
)

// Options set the scenario.
type Options struct {
	Ns       []int
	F        int64 // package payload bytes
	U, u     int64 // server and client upload caps, bytes/s
	HTTP     bool
	HTTPMaxN int // HTTP rows only for N up to this (its time is predictable: N·F/U)
	Aria2    bool
	// Transmission adds a row with transmission-daemon as seeder and
	// leechers, in a network namespace of its own (transmission.go).
	Transmission bool
	// Libtorrent adds the libtorrent rows (libtorrent.go): libtorrent as
	// seeder and leechers, and again with the seeder super-seeding, after
	// a check that its caps bind.
	Libtorrent bool
	BinDir     string
	Keep       bool
	Timeout    time.Duration // per row
	Stdout     io.Writer
	Stderr     io.Writer
	// Net runs bench-net: the Methods for every N and every round trip in
	// RTTs, on hosts that are network namespaces (netbench.go).
	Net     bool
	RTTs    []time.Duration
	MTU     int // of bench-net's links (defaultLabMTU when 0)
	Methods []string
	// JSON prints the rows as JSON instead of the table.
	JSON bool
}

// serverCap is distpac's publisher upload_rate_limit. On loopback it is
// the rate U. In bench-net the kernel holds the link to U, and the
// publisher is told 25% more: the setting is what declares an uplink
// scarce (PublisherSlots, the short request queue and the slot rate it
// advertises, internal/swarm/queue.go), while the link stays the limit
// that binds.
func (o Options) serverCap() int64 {
	if o.Net {
		return o.U * 5 / 4
	}
	return o.U
}

// peerCap is a program's own upload cap for a host whose rate is c: c on
// loopback, none in bench-net, where the link has the rate.
func (o Options) peerCap(c int64) int64 {
	if o.Net {
		return 0
	}
	return c
}

// Row is one measured line of the table.
type Row struct {
	Method          string
	N               int
	F, U, UC        int64         // package size, server and client upload rates
	Last, Mean, Max time.Duration // from the start of the run
	// Downloaded is when the last client's download ended, from the start
	// of the run: for distpac, before its install verified and placed the
	// package, work the lab's clients do at once on its two cores (0 when
	// not reported). The other methods only download: their Last is this.
	Downloaded time.Duration `json:",omitempty"`
	// FirstByte is the mean time to the first payload byte (where
	// measured): of distpac's swarm rows, from the start of the run, the
	// install processes' own start included (N of them start at once on
	// the lab's cores); of the fast start row, from the engine's start.
	FirstByte     time.Duration
	ServerUp      float64 // server payload bytes uploaded ÷ F
	ClientDownMax float64 // the most any client downloaded ÷ F
	Bound         time.Duration
	PeakRSS       int64 // largest peak RSS of a client daemon (or aria2 leecher), bytes
	InstallRSS    int64 // largest peak RSS of a `dist-client install` process, bytes
	// CPU is the user plus system time of the row's processes (seeder and
	// clients; the kernel's share of loopback traffic lands here too) from
	// the row's common start on (rowCPU), next to the wall time × cores it
	// had: a row near that is CPU-bound.
	CPU time.Duration
	// InstallCPU is the part of CPU spent in the `dist-client install`
	// processes (verifying the archive, extracting it, the scripts): work
	// the other methods' rows have no counterpart for. 0 for them.
	InstallCPU time.Duration `json:",omitempty"`
	// bench-net only. ServerUp and ClientDownMax are then the kernel's
	// counts of the links (publisher egress, client ingress).
	Net bool
	RTT time.Duration // the round trip the network was given
	MTU int           `json:",omitempty"` // of the links
	// MeasuredRTT and MeasuredRTT90 are the median and the 90th
	// percentile of the round trips probed during the row (rowProbe), of
	// RTTProbes probes.
	MeasuredRTT, MeasuredRTT90 time.Duration
	RTTProbes                  int
	Queue                      string // request queue depth the clients kept at the publisher (distpac)
	// ServerPayload is the BitTorrent payload the publisher's program
	// says it uploaded ÷ F (distpac, aria2 and Transmission rows; the rest
	// of the link's egress is headers, the web seed and the catalog).
	ServerPayload float64 `json:",omitempty"`
	// WastedMax is the most payload any distpac client received and threw
	// away (duplicates, hash failures; its install's transfer report) ÷ F.
	WastedMax float64 `json:",omitempty"`
	// HashFailures counts the pieces that failed their hash at distpac's
	// clients (their installs' transfer reports). Among the benchmark's
	// honest peers any is a bug, shown below the table: one that served
	// short chunks showed in the figures only as a slower row now and then.
	HashFailures int `json:",omitempty"`
	// PublisherUse is the publisher's link use in each second of the row,
	// percent of its rate (in the log, not the table).
	PublisherUse []int `json:",omitempty"`
	// ClientsUse is the clients' links' use together in each second, percent
	// of their rates' sum (in the log): where the swarm's own upload idles.
	ClientsUse []int `json:",omitempty"`
	// ClientsIdle is how many clients sent less than half their link's
	// rate in each second: uplinks the swarm left unused.
	ClientsIdle []int `json:",omitempty"`
	Err         string
}

// Bound is the Kumar–Ross lower bound with unlimited client download.
func Bound(n int, f, U, u int64) time.Duration {
	t := float64(f) / float64(U)
	if shared := float64(n) * float64(f) / float64(U+int64(n)*u); shared > t {
		t = shared
	}
	return time.Duration(t * float64(time.Second))
}

// Main parses flags and runs the benchmark.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == transmissionRowFlag {
		return transmissionRowMain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == netRowFlag {
		return netRowsMain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("dist-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ns := fs.String("n", envOr("DISTPAC_BENCH_N", ""), "comma-separated client counts, e.g. 4,16,32 (env DISTPAC_BENCH_N; default 16, with -net 8,32)")
	f := fs.String("f", envOr("DISTPAC_BENCH_F", "16MiB"), "package size (env DISTPAC_BENCH_F)")
	U := fs.String("U", envOr("DISTPAC_BENCH_U", ""), "server upload cap per second (env DISTPAC_BENCH_U; default 2MiB, with -net the publisher's link rate, default 1MiB)")
	u := fs.String("u", envOr("DISTPAC_BENCH_UC", ""), "client upload cap per second (env DISTPAC_BENCH_UC; default 2MiB, with -net the clients' link rate, default 1MiB)")
	noHTTP := fs.Bool("no-http", false, "leave out the HTTP baseline")
	httpMax := fs.Int("http-max-n", 16, "run the HTTP baseline only for N up to this")
	noAria := fs.Bool("no-aria2", false, "leave out the aria2 row even when aria2c is installed")
	noTr := fs.Bool("no-transmission", false, "leave out the Transmission row even when transmission-daemon is installed")
	noLt := fs.Bool("no-libtorrent", false, "leave out the libtorrent rows (and their cap check) even when "+ltPython+" has the libtorrent module")
	bin := fs.String("bin", "", "directory with dist-server and dist-client (default: next to this program, then ./bin)")
	keep := fs.Bool("keep", false, "keep the work directory")
	timeout := fs.Duration("timeout", 4*time.Minute, "give up on a row after this long")
	many := fs.String("many", "", "instead of the swarm rows: one client installs this many small packages, e.g. 250,1000")
	seeders := fs.String("seeder-packages", "", "with -many: also start a seeder with this many packages, e.g. 10000")
	add := fs.String("add", "", "instead of the swarm rows: time dist-server add of a package of this size beside zstd and sha256sum (add.go), e.g. 1GiB")
	addRuns := fs.Int("runs", 3, "with -add or -fast: runs")
	fast := fs.String("fast", "", "instead of the swarm rows: one client installs a package of this size from one local unthrottled seeder, beside curl, sha256sum and zstd -d | tar -x (fastpeer.go), e.g. 1GiB")
	oldServer := fs.String("old-server", "", "with -add: also time this dist-server binary's add and check it gives the same archive")
	netMode := fs.Bool("net", false, "bench-net: hosts as network namespaces (needs root), link rates set by the kernel, round trips by a delay line")
	rtts := fs.String("rtt", "0,100ms", "with -net: comma-separated round-trip times, e.g. 0,20ms,100ms")
	mtu := fs.Int("mtu", defaultLabMTU, fmt.Sprintf("with -net: the MTU of every link, %d-%d (jumbo frames by default: with 1500 the lab's per-packet work takes the CPU from the programs it measures)", minLabMTU, maxLabMTU))
	methods := fs.String("methods", methodDistpac, "with -net: comma-separated methods among "+strings.Join(netMethods, ","))
	full := fs.Bool("full", false, "with -net: the whole matrix, N=8,32,64 × RTT 0,20ms,100ms × every method (-n, -rtt, -methods override)")
	jsonOut := fs.Bool("json", false, "print the rows as JSON instead of a table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *fast != "" || *add != "" {
		mode, sizeArg := "-add", *add
		if *fast != "" {
			mode, sizeArg = "-fast", *fast
		}
		size, err := units.ParseSize(sizeArg)
		if err != nil || size <= 0 || *addRuns < 1 {
			fmt.Fprintf(stderr, "dist-bench: %s %q -runs %d: want a positive size such as 1GiB and at least one run\n", mode, sizeArg, *addRuns)
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if mode == "-fast" {
			return fastMain(ctx, int64(size), *addRuns, findBin(*bin), *keep, *jsonOut, stdout, stderr)
		}
		return addMain(ctx, int64(size), *addRuns, findBin(*bin), *oldServer, *keep, stdout, stderr)
	}
	if *many != "" || *seeders != "" {
		return manyMain(*many, *seeders, findBin(*bin), *keep, stdout, stderr)
	}
	o := Options{HTTP: !*noHTTP, HTTPMaxN: *httpMax, Aria2: !*noAria, Transmission: !*noTr, Libtorrent: !*noLt, Keep: *keep, Timeout: *timeout, Stdout: stdout, Stderr: stderr,
		Net: *netMode, MTU: *mtu, JSON: *jsonOut}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *ns == "" {
		*ns = "16"
		if o.Net {
			*ns = "8,32"
		}
	}
	// bench-net moves every byte through the kernel twice more (tbf, the
	// router, the delay line) on top of N BitTorrent processes: at 2 MiB/s
	// N=32 took 23 s of CPU in a 13 s row on two cores, a row about CPU, not
	// the network. Its links default to half the rate.
	for _, p := range []*string{U, u} {
		if *p == "" {
			*p = "2MiB"
			if o.Net {
				*p = "1MiB"
			}
		}
	}
	if o.Net && *full {
		if !set["n"] && os.Getenv("DISTPAC_BENCH_N") == "" {
			*ns = "8,32,64"
		}
		if !set["rtt"] {
			*rtts = "0,20ms,100ms"
		}
		if !set["methods"] {
			*methods = strings.Join(netMethods, ",")
		}
	}
	if o.Net {
		var err error
		if o.RTTs, err = parseRTTs(*rtts); err != nil {
			fmt.Fprintf(stderr, "dist-bench: -rtt: %v\n", err)
			return 2
		}
		if o.MTU < minLabMTU || o.MTU > maxLabMTU {
			fmt.Fprintf(stderr, "dist-bench: -mtu %d: want %d to %d bytes\n", o.MTU, minLabMTU, maxLabMTU)
			return 2
		}
		if o.Methods, err = parseMethods(*methods); err != nil {
			fmt.Fprintf(stderr, "dist-bench: -methods: %v\n", err)
			return 2
		}
	}
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 256 {
			fmt.Fprintf(stderr, "dist-bench: -n %q: want client counts between 1 and 256\n", *ns)
			return 2
		}
		o.Ns = append(o.Ns, n)
	}
	for _, p := range []struct {
		dst  *int64
		text string
		name string
	}{{&o.F, *f, "-f"}, {&o.U, *U, "-U"}, {&o.u, *u, "-u"}} {
		v, err := units.ParseSize(p.text)
		if err != nil || v <= 0 {
			fmt.Fprintf(stderr, "dist-bench: %s %q: want a positive size such as 16MiB\n", p.name, p.text)
			return 2
		}
		*p.dst = int64(v)
	}
	o.BinDir = findBin(*bin)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := Run(ctx, o)
	if errors.Is(err, ErrNetSkipped) {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return 0
	}
	if o.JSON {
		b, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "%d CPU cores; CPU is the seeder's and the clients' CPU time from the row's start\n", runtime.NumCPU())
		fmt.Fprintln(stdout, ProbeMachine())
		if o.Net {
			fmt.Fprintf(stdout, "bench-net: publisher egress and client download are the kernel's byte counts of their links (headers included); RTT is the round trip set, measured the median/90th percentile of the round trips probed during the row between two idle hosts; queue is the request queue depth distpac's clients kept at the publisher\n")
		}
		Print(stdout, rows)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return 1
	}
	return 0
}

// manyMain runs the many-packages rows (many.go).
func manyMain(installs, seeders, binDir string, keep bool, stdout, stderr io.Writer) int {
	parse := func(flagName, text string) ([]int, bool) {
		var out []int
		for _, s := range strings.Split(text, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 100000 {
				fmt.Fprintf(stderr, "dist-bench: %s %q: want package counts between 1 and 100000\n", flagName, text)
				return nil, false
			}
			out = append(out, n)
		}
		return out, true
	}
	ins, ok1 := parse("-many", installs)
	seeds, ok2 := parse("-seeder-packages", seeders)
	if !ok1 || !ok2 {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := RunMany(ctx, binDir, ins, seeds, keep, stderr)
	fmt.Fprintf(stdout, "%d CPU cores; packages of 1-64 KiB, one seeder and one fresh client on loopback\n", runtime.NumCPU())
	fmt.Fprintln(stdout, ProbeMachine())
	PrintMany(stdout, rows)
	if err != nil {
		fmt.Fprintf(stderr, "dist-bench: %v\n", err)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func findBin(flagDir string) string {
	if flagDir != "" {
		return flagDir
	}
	if exe, err := os.Executable(); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(exe), "dist-server")); err == nil {
			return filepath.Dir(exe)
		}
	}
	return "bin"
}

// Run measures every row.
func Run(ctx context.Context, o Options) ([]Row, error) {
	if o.Net {
		if err := netUsable(); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNetSkipped, err)
		}
	}
	for _, b := range []string{"dist-server", "dist-client"} {
		if _, err := os.Stat(filepath.Join(o.BinDir, b)); err != nil {
			return nil, fmt.Errorf("%s not found in %s (run make build, or pass -bin)", b, o.BinDir)
		}
	}
	work, err := os.MkdirTemp("", "distpac-bench-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		fmt.Fprintf(o.Stderr, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	pkg := filepath.Join(work, "benchpkg")
	if err := writePackage(pkg, o.F); err != nil {
		return nil, err
	}
	if o.Net {
		return runNet(ctx, o, work, pkg)
	}
	if o.Transmission {
		if err := transmissionUsable(); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the Transmission row: %v\n", err)
			o.Transmission = false
		}
	}
	if o.Libtorrent {
		if err := libtorrentUsable(); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the libtorrent rows: %v\n", err)
			o.Libtorrent = false
		}
	}
	var rows []Row
	var errs []error
	add := func(r Row, err error) {
		if err != nil {
			r.Err = err.Error()
			errs = append(errs, fmt.Errorf("%s N=%d: %w", r.Method, r.N, err))
		}
		rows = append(rows, r)
	}
	// measure runs one row of method with n clients.
	measure := func(method string, n int, run func(dir string) (Row, error)) error {
		fmt.Fprintf(o.Stderr, "%s, N=%d ...\n", method, n)
		// Every row starts with nothing dirty in the page cache: a row of 32
		// clients writes about 1 GiB (downloads and installs), whose
		// writeback otherwise lands in the next row, on the next method.
		settle()
		r, err := run(filepath.Join(work, fmt.Sprintf("%s-%d", strings.ReplaceAll(method, " ", "-"), n)))
		r.Method, r.N, r.F, r.U, r.UC, r.Bound = method, n, o.F, o.U, o.u, Bound(n, o.F, o.U, o.u)
		add(r, err)
		return err
	}
	if o.Libtorrent && ctx.Err() == nil {
		// Once a run: rows whose caps do not bind would measure nothing.
		if err := measure(methodLibtorrentCheck, 1, func(dir string) (Row, error) { return ltCapCheck(ctx, o, pkg, dir) }); err != nil {
			fmt.Fprintf(o.Stderr, "dist-bench: leaving out the libtorrent rows: cap check: %v\n", err)
			o.Libtorrent = false
		}
	}
	for _, n := range o.Ns {
		if ctx.Err() != nil {
			break
		}
		distpacDir := filepath.Join(work, fmt.Sprintf("distpac-%d", n))
		measure("distpac", n, func(string) (Row, error) { return runDistpac(ctx, o, loopbackLayout(n, true), pkg, distpacDir) })
		if o.HTTP && n <= o.HTTPMaxN {
			measure("http", n, func(string) (Row, error) { return runHTTP(ctx, o, n, distpacDir) })
		}
		if o.Aria2 && haveAria2() {
			measure("aria2", n, func(dir string) (Row, error) { return runAria2(ctx, o, loopbackLayout(n, false), pkg, dir) })
		}
		if o.Transmission {
			measure("transmission", n, func(dir string) (Row, error) { return runTransmission(ctx, o, n, pkg, dir) })
		}
		if o.Libtorrent {
			for _, super := range []bool{false, true} {
				method := methodLibtorrent
				if super {
					method = methodLibtorrentSuper
				}
				measure(method, n, func(dir string) (Row, error) {
					return runLibtorrent(ctx, o, loopbackLayout(n, true), pkg, dir, super)
				})
			}
		}
	}
	if ctx.Err() == nil {
		fmt.Fprintf(o.Stderr, "fast start ...\n")
		first, done, err := FastStart(ctx, filepath.Join(work, "faststart"), 64<<10)
		r := Row{Method: "fast start 64KiB", N: 1, F: 64 << 10, U: 0, UC: 0, Last: done, Mean: done, Max: done, FirstByte: first, Bound: time.Millisecond}
		add(r, err)
	}
	return rows, errors.Join(errs...)
}

// writePackage makes a package whose asset is f random (incompressible) bytes.
func writePackage(dir string, f int64) error {
	for _, d := range []string{"assets", "scripts"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"manifest.yaml":        "name: benchpkg\nversion: 1.0.0\ndescription: swarm benchmark payload\n",
		"scripts/install.sh":   "#!/bin/sh\ntest -s \"$DISTPAC_ASSETS/payload\"\n",
		"scripts/uninstall.sh": "#!/bin/sh\nexit 0\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			return err
		}
	}
	out, err := os.Create(filepath.Join(dir, "assets", "payload"))
	if err != nil {
		return err
	}
	defer out.Close()
	r := rand.New(rand.NewPCG(uint64(f), 42))
	buf := make([]byte, 1<<20)
	for left := f; left > 0; {
		for i := 0; i+8 <= len(buf); i += 8 {
			v := r.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		n := min(left, int64(len(buf)))
		if _, err := out.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return out.Close()
}

// summarise fills Last, Mean and Max from per-client durations.
func summarise(r *Row, times []time.Duration) {
	if len(times) == 0 {
		return
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, t := range times {
		sum += t
	}
	r.Mean = sum / time.Duration(len(times))
	r.Max = times[len(times)-1]
	r.Last = r.Max
}

// Print writes the table. bench-net rows get the round trip (set and
// measured) and the queue depth; their up and down columns are the
// kernel's counts of the links.
func Print(w io.Writer, rows []Row) {
	net := slices.ContainsFunc(rows, func(r Row) bool { return r.Net })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	head := "method\tN\tF\tU\tu\tlast done\tmean\tmax\tT_min\tlast/T_min\tdownloaded/T_min\tserver up/F\tmax client down/F\tfirst byte\tpeak RSS\tinstall RSS\tCPU\tinstall CPU\t"
	if net {
		head = "method\tN\tRTT\tmeasured\tF\tU\tu\tlast done\tmean\tmax\tT_min\tlast/T_min\tdownloaded/T_min\tpublisher egress/F\tmax client down/F\tqueue\tpeak RSS\tinstall RSS\tCPU\tinstall CPU\t"
	}
	fmt.Fprintln(tw, head)
	var failures []string // notes below the table: failed rows, numbered, and warnings
	failed := 0
	for _, r := range rows {
		lead := fmt.Sprintf("%s\t%d\t", r.Method, r.N)
		if net {
			lead += fmt.Sprintf("%s\t%s\t", r.RTT, rttText(r.MeasuredRTT, r.MeasuredRTT90))
		}
		lead += fmt.Sprintf("%s\t%s\t%s\t", sz(r.F), sz(r.U)+"/s", sz(r.UC)+"/s")
		if r.Err != "" {
			// The reason goes below the table: in a cell it would widen
			// the column for every row.
			failed++
			failures = append(failures, fmt.Sprintf("FAILED %d: %s: %s", failed, rowName(r), r.Err))
			fmt.Fprintf(tw, "%sFAILED %d%s\n", lead, failed, strings.Repeat("\t", strings.Count(head, "\t")-strings.Count(lead, "\t")))
			continue
		}
		if r.Method == "fast start 64KiB" {
			fmt.Fprintf(tw, "%s\t%d\t%s\t-\t-\t%.3fs\t\t\t\t\t\t\t\t%.1fms\t\t\t\t\t\n", r.Method, r.N, sz(r.F), r.Last.Seconds(), r.FirstByte.Seconds()*1000)
			continue
		}
		fb, rss, down, irss, cpu, icpu, dl := "-", "-", "-", "-", "-", "-", "-"
		switch {
		case r.Downloaded > 0:
			dl = fmt.Sprintf("%.2f", r.Downloaded.Seconds()/r.Bound.Seconds())
		case r.InstallCPU == 0: // a method that only downloads
			dl = fmt.Sprintf("%.2f", r.Last.Seconds()/r.Bound.Seconds())
		}
		if r.CPU > 0 {
			cpu = fmt.Sprintf("%.1fs", r.CPU.Seconds())
		}
		if r.InstallCPU > 0 {
			icpu = fmt.Sprintf("%.1fs", r.InstallCPU.Seconds())
		}
		if r.InstallRSS > 0 {
			irss = sz(r.InstallRSS)
		}
		if r.ClientDownMax > 0 {
			down = fmt.Sprintf("%.3f", r.ClientDownMax)
		}
		if r.FirstByte > 0 {
			fb = fmt.Sprintf("%.0fms", r.FirstByte.Seconds()*1000)
		}
		if r.PeakRSS > 0 {
			rss = sz(r.PeakRSS)
		}
		mid := fb
		if net {
			mid = cmp.Or(r.Queue, "-")
		}
		if r.HashFailures > 0 {
			failures = append(failures, fmt.Sprintf("WARNING: %s: %d pieces failed their hash at the clients (peers here are honest: a bug)", rowName(r), r.HashFailures))
		}
		fmt.Fprintf(tw, "%s%.2fs\t%.2fs\t%.2fs\t%.2fs\t%.2f\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			lead, r.Last.Seconds(), r.Mean.Seconds(), r.Max.Seconds(),
			r.Bound.Seconds(), r.Last.Seconds()/r.Bound.Seconds(), dl, r.ServerUp, down, mid, rss, irss, cpu, icpu)
	}
	tw.Flush()
	for _, f := range failures {
		fmt.Fprintln(w, f)
	}
}

// rowName names a row in the notes below the table.
func rowName(r Row) string {
	name := fmt.Sprintf("%s N=%d", r.Method, r.N)
	if r.Net {
		name += " RTT=" + r.RTT.String()
	}
	return name
}

// rttText shows a measured round trip, median/90th percentile, in
// milliseconds.
func rttText(med, p90 time.Duration) string {
	if med <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f/%.1fms", ms(med), ms(p90))
}

func sz(n int64) string { return strings.ReplaceAll(units.Size(n).String(), " ", "") }
