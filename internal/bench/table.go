//go:build linux

package bench

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distpac/distpac/internal/units"
)

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
