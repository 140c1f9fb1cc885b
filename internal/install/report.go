package install

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

// printReport prints the transfer report of a command's downloads: one line
// by default ("downloaded 7.8 MiB in 2.10s (3.7 MiB/s): 5.1 MiB from the
// publisher's seeder, 2.7 MiB from 3 other peers; first byte after 4ms"),
// and a table of every archive with -v. No package manager or P2P
// distributor shows this; it is what tells a user whether peers were used.
func (c *Client) printReport(r Report) {
	t, cached, cachedBytes := r.Totals()
	got := t.FromSeeder + t.FromPeers + t.FromWebSeed
	rate := 0.0
	if s := r.Elapsed.Seconds(); s > 0 {
		rate = float64(got) / s
	}
	var from []string
	if t.FromSeeder > 0 {
		from = append(from, units.FormatBytes(t.FromSeeder)+" from the publisher's seeder")
	}
	if t.FromPeers > 0 {
		from = append(from, fmt.Sprintf("%s from %s", units.FormatBytes(t.FromPeers), ui.Count(t.Peers, "other peer")))
	}
	if t.FromWebSeed > 0 {
		from = append(from, units.FormatBytes(t.FromWebSeed)+" from "+webSeeds(t.WebSeeds, t.WebSeedLastResort))
	}
	if t.AlreadyHad > 0 {
		from = append(from, units.FormatBytes(t.AlreadyHad)+" already verified from an earlier, interrupted download")
	}
	if cached > 0 {
		from = append(from, fmt.Sprintf("%s (%s) from the local cache", ui.Count(cached, "archive"), units.FormatBytes(cachedBytes)))
	}
	line := fmt.Sprintf("downloaded %s in %s (%s): %s", units.FormatBytes(got), fmtDuration(r.Elapsed), units.FormatRate(rate), strings.Join(from, ", "))
	var notes []string
	if t.FirstByte > 0 {
		notes = append(notes, "first byte after "+fmtDuration(t.FirstByte))
	}
	if t.Wasted > 0 || t.HashFailures > 0 {
		notes = append(notes, wasted(t.Wasted, t.HashFailures))
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, ", ")
	}
	c.UI.Printf("%s\n", line)
	if !c.UI.Verbose || c.UI.Quiet {
		return
	}
	rows := make([][]string, 0, len(r.Archives))
	for _, a := range r.Archives {
		if a.Cached {
			rows = append(rows, []string{a.Archive, "cache", units.FormatBytes(a.Total), "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		rows = append(rows, []string{a.Archive, "network", units.FormatBytes(a.Total), units.FormatBytes(a.FromSeeder),
			units.FormatBytes(a.FromPeers), strconv.Itoa(a.Peers), httpReceived(a.Transfer), units.FormatBytes(a.AlreadyHad),
			units.FormatBytes(a.Wasted), fmtDuration(a.FirstByte)})
	}
	// The column was "WEB SEED" while the dry run's became "HTTP" (web
	// seed, last resort or no): the bytes a server's /packages/ sent
	// as a last resort were counted under "WEB SEED", which the dry run
	// and the one-line report tell apart. The same words, and the dry
	// run's line saying what each means.
	c.UI.Table([]string{"ARCHIVE", "SOURCE", "SIZE", "SEEDER", "PEERS", "N", "HTTP", "HAD", "WASTED", "FIRST BYTE"}, rows)
	if t.FromWebSeed > 0 {
		c.UI.Printf("HTTP: what a server's /packages/ sent, %s\n", httpMeaning)
	}
}

// The words of the HTTP columns of the dry run (where a server's
// /packages/ would serve an archive) and of the -v transfer report (what
// it sent), and the line under both tables that says what they mean.
const (
	httpWebSeed    = "web seed"
	httpLastResort = "last resort"
	httpNo         = "no"
	httpMeaning    = "as a web seed (asked when peers send little) or as a last resort (asked only when BitTorrent has no source)"
)

// httpReceived is the -v report's HTTP cell: "no" when nothing came over
// HTTP, else the bytes and as what ("1.0 MiB last resort").
func httpReceived(t swarm.Transfer) string {
	switch {
	case t.FromWebSeed == 0:
		return httpNo
	case t.WebSeedLastResort:
		return units.FormatBytes(t.FromWebSeed) + " " + httpLastResort
	}
	return units.FormatBytes(t.FromWebSeed) + " " + httpWebSeed
}

// webSeeds names the web seeds that sent pieces: "the web seed" (a
// daemon older than the report's hosts), "the web seed at HOST", "the web
// seeds at A, B and C", the first three of more and how many others; or,
// for a last resort, "the server's /packages/ at HOST (last resort)",
// which the dry run and the README tell from a web seed (a newcomer's
// run: the report called it a web seed).
func webSeeds(hosts []string, lastResort bool) string {
	one, many, end := "the web seed", "the web seeds", ""
	if lastResort {
		one, many, end = "the server's /packages/", "the servers' /packages/", " (last resort: BitTorrent had no source)"
	}
	switch len(hosts) {
	case 0:
		return one + end
	case 1:
		return one + " at " + hosts[0] + end
	}
	shown := slices.Clone(hosts[:min(len(hosts), 3)])
	if more := len(hosts) - len(shown); more > 0 {
		shown = append(shown, ui.Count(more, "other"))
	}
	return many + " at " + resolve.JoinAnd(shown) + end
}

// fmtDuration prints a duration for people: milliseconds below a second,
// seconds with two decimals above.
func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

// wasted is the report's note on the bytes received and thrown away, and
// the pieces that failed their hash among them: it said "(0 pieces that
// failed their hash)" of a peer's short block, and "1 piece that failed
// their hash".
func wasted(bytes int64, failures int) string {
	switch failures {
	case 0:
		return units.FormatBytes(bytes) + " wasted"
	case 1:
		return units.FormatBytes(bytes) + " wasted (1 piece that failed its hash)"
	}
	return fmt.Sprintf("%s wasted (%d pieces that failed their hash)", units.FormatBytes(bytes), failures)
}
