//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/distpac/distpac/internal/units"
)

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
