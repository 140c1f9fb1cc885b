package fetch

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

// Report is a command's transfer report: where every archive it needed
// came from. It is printed after the downloads (one line; a table with -v),
// returned by install --json and kept in the history entry.
type Report struct {
	Archives []ArchiveReport `json:"archives"`
	// Elapsed is the time from the first request to the last archive,
	// or to the end of a fetch that stopped before.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Note says what the archives cannot: "interrupted before any
	// transfer" (an interrupted command's report was empty).
	Note string `json:"note,omitempty"`
}

// ArchiveReport is one archive's part of a Report.
type ArchiveReport struct {
	Archive string `json:"archive"`
	// Cached: the archive was in the local cache; nothing was downloaded.
	Cached bool `json:"cached"`
	// Incomplete: the fetch stopped before the archive was whole (an
	// interrupted or failed command). Transfer then counts what had come
	// (not the bytes wasted), unless SourcesUnknown, and Kept is what its
	// partial download holds in the cache for the next install.
	Incomplete bool `json:"incomplete"`
	// SourcesUnknown: an incomplete archive whose sources no engine
	// reported: one downloaded through the daemon whose socket closed
	// with the command (a daemon that fails a download says, in
	// daemon.Event's Stopped, unless older than it), or one that had not
	// started yet in this process (waiting for a turn among the engine's
	// downloads). The entry's downloaded_bytes has the sum of
	// what came.
	SourcesUnknown bool  `json:"sources_unknown"`
	Kept           int64 `json:"kept_bytes,omitempty"`
	// HandedOver is the part of AlreadyHad that this command's daemon
	// had verified before it left the download in the middle (stopped,
	// vanished, its connection cut), which a daemon that answered again
	// or an engine of this command went on from (handover.go); the rest
	// of AlreadyHad is an earlier, interrupted download's.
	HandedOver int64 `json:"handed_over_bytes,omitempty"`
	swarm.Transfer
}

func (r *Report) add(a ArchiveReport) { r.Archives = append(r.Archives, a) }

// stoppedAt records what r's download had received when it stopped.
func (f *Fetch) stoppedAt(r catalog.Package, t swarm.Transfer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped == nil {
		f.stopped = map[string]swarm.Transfer{}
	}
	f.stopped[r.Archive] = t
}

// addIncomplete adds to the report the archives still downloading when
// the fetch stopped, with what they had received where the source said
// (stoppedAt): an interrupted install's history entry had an empty
// transfer report, though megabytes had come. What a daemon that left
// the fetch had verified is HandedOver there too, as in a whole
// archive's report: an install interrupted after its daemon was killed
// put the daemon's 10.4 MiB down as already had from an earlier,
// interrupted download.
func (f *Fetch) addIncomplete() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.need {
		if !f.pending[r.Archive] {
			continue
		}
		a := ArchiveReport{Archive: r.Archive, Incomplete: true, Transfer: swarm.Transfer{Total: r.Size}}
		if t, ok := f.stopped[r.Archive]; ok {
			a.Transfer, a.HandedOver = t, f.handedOver(r, t)
		} else {
			a.SourcesUnknown = true
		}
		f.report.add(a)
	}
	f.report.Elapsed = time.Since(f.started)
}

// Kept is what the partial downloads of a stopped fetch's archives hold
// in the cache: the bytes the next plan counts as kept from an
// interrupted download (KeptBytes: a download dropped incomplete keeps
// only its verified pieces, swarm's partholes), which the next install or
// upgrade of those packages resumes from. An archive that completed has
// no .part left.
type Kept struct {
	Bytes int64
	// Of names the packages whose archives keep any ("big 1.0.0"), in
	// plan order.
	Of []string
	// archive is the bytes by archive (those that keep any).
	archive map[string]int64
}

// kept reads what the partial downloads of the fetch's archives hold.
func (f *Fetch) kept() Kept {
	k := Kept{archive: map[string]int64{}}
	for _, r := range f.need {
		if n := KeptBytes(f.o.Paths.Cache(), r); n > 0 {
			k.Bytes += n
			k.Of = append(k.Of, r.Name+" "+r.Version)
			k.archive[r.Archive] = n
		}
	}
	return k
}

// Result is what the fetch did: what this command moved into the cache,
// the transfer report (once every download ended) and, when the fetch
// stopped before every archive was whole, what the partial downloads
// keep, read once for all three: each incomplete archive's Kept is its
// part, and the count takes what they gained on disk. Read it after what
// frees parts of them: through the daemon, a dropped download's bytes not
// verified go once the daemon sees the install gone.
func (f *Fetch) Result() (downloaded int64, r *Report, kept Kept) {
	f.mu.Lock()
	rep := f.report
	rep.Archives = append([]ArchiveReport(nil), rep.Archives...)
	// What the progress grew by since its first report counts (the
	// history showed 0 B for an install stopped with 13.9 MiB received).
	n, stopped := max(rep.Downloaded(), f.lastDone-f.firstDone), f.err != nil
	f.mu.Unlock()
	if !stopped {
		return n, &rep, Kept{}
	}
	// So does, once the fetch stopped, what the partial downloads gained
	// on disk: through the daemon an install without a bar hears of
	// progress every 2 s (quietProgress), and an interrupted one's entry
	// said 3.7 MiB downloaded where 6.0 MiB was kept.
	kept = f.kept()
	for i, a := range rep.Archives {
		if a.Incomplete {
			rep.Archives[i].Kept = kept.archive[a.Archive]
		}
	}
	return max(n, kept.Bytes-f.firstDone), &rep, kept
}

// Downloaded is what this command moved into the cache so far (Result's).
func (f *Fetch) Downloaded() int64 {
	n, _, _ := f.Result()
	return n
}

// stoppedBeforeStart ends a fetch interrupted before its source opened
// (Ctrl-C while the daemon was asked) with err: every archive it needed is
// in the report, incomplete with its sources unknown, as a fetch
// interrupted later lists them; Start returned the error, and the
// history entry had no transfer report.
func (f *Fetch) stoppedBeforeStart(err error) {
	f.addIncomplete()
	f.fail(err)
	close(f.done)
}

// Totals sums the archives' reports.
func (r Report) Totals() (t swarm.Transfer, cached int, cachedBytes int64) {
	t.FirstByte = -1
	web, lastResort := 0, 0 // archives with bytes over HTTP, and of them as a last resort
	for _, a := range r.Archives {
		if a.Cached {
			cached++
			cachedBytes += a.Total
			continue
		}
		t.Total += a.Total
		t.FromSeeder += a.FromSeeder
		t.FromMirrors += a.FromMirrors
		t.Mirrors = max(t.Mirrors, a.Mirrors)
		t.FromPeers += a.FromPeers
		t.Peers = max(t.Peers, a.Peers)
		t.FromWebSeed += a.FromWebSeed
		if a.FromWebSeed > 0 {
			web++
			if a.WebSeedLastResort {
				lastResort++
			}
		}
		for _, h := range a.WebSeeds {
			if !slices.Contains(t.WebSeeds, h) {
				t.WebSeeds = append(t.WebSeeds, h)
			}
		}
		t.AlreadyHad += a.AlreadyHad
		t.Wasted += a.Wasted
		t.HashFailures += a.HashFailures
		if a.FirstByte > 0 && (t.FirstByte < 0 || a.FirstByte < t.FirstByte) {
			t.FirstByte = a.FirstByte
		}
	}
	t.FirstByte = max(t.FirstByte, 0)
	t.WebSeedLastResort = web > 0 && lastResort == web // the report names them so only if all were
	slices.Sort(t.WebSeeds)
	t.Elapsed = r.Elapsed
	return t, cached, cachedBytes
}

// handedOver sums the archives' HandedOver.
func (r Report) handedOver() int64 {
	var n int64
	for _, a := range r.Archives {
		if !a.Cached {
			n += a.HandedOver
		}
	}
	return n
}

// Downloaded is the payload that came over the network.
func (r Report) Downloaded() int64 {
	t, _, _ := r.Totals()
	return t.Received()
}

// printReport prints the transfer report of a command's downloads: one line
// by default ("downloaded 7.8 MiB in 2.10s (3.7 MiB/s): 5.1 MiB from the
// publisher's seeder, 1.0 MiB from a mirror's seeder, 2.7 MiB from 3 other
// peers; first byte after 4ms"),
// and a table of every archive with -v. No package manager or P2P
// distributor shows this; it is what tells a user whether peers were used.
func (o *Options) printReport(r Report) {
	t, cached, cachedBytes := r.Totals()
	// What a daemon that left in the middle had verified came in this
	// install's time too: left out, the line put the rest alone over the
	// whole time (1.5 MiB/s of a link held at 2 MiB/s, a newcomer's run).
	handed := r.handedOver()
	got := t.Received() + handed
	rate := 0.0
	if s := r.Elapsed.Seconds(); s > 0 {
		rate = float64(got) / s
	}
	var from []string
	if t.FromSeeder > 0 {
		from = append(from, units.FormatBytes(t.FromSeeder)+" from the publisher's seeder")
	}
	if t.FromMirrors > 0 {
		from = append(from, units.FormatBytes(t.FromMirrors)+" from "+mirrors(t.Mirrors))
	}
	if t.FromPeers > 0 {
		from = append(from, fmt.Sprintf("%s from %s", units.FormatBytes(t.FromPeers), ui.Count(t.Peers, "other peer")))
	}
	if t.FromWebSeed > 0 {
		from = append(from, units.FormatBytes(t.FromWebSeed)+" from "+webSeeds(t.WebSeeds, t.WebSeedLastResort))
	}
	// What the daemon verified before it left this command was said to
	// come "from an earlier, interrupted download", though it was this
	// install's own daemon's work.
	if had := t.AlreadyHad - handed; had > 0 {
		from = append(from, units.FormatBytes(had)+" already verified from an earlier, interrupted download")
	}
	if handed > 0 {
		from = append(from, units.FormatBytes(handed)+" verified by the daemon earlier in this install")
	}
	if cached > 0 {
		from = append(from, fmt.Sprintf("%s (%s) from the local cache", ui.Count(cached, "archive"), units.FormatBytes(cachedBytes)))
	}
	line := fmt.Sprintf("downloaded %s in %s (%s): %s", units.FormatBytes(got), FormatDuration(r.Elapsed), units.FormatRate(rate), strings.Join(from, ", "))
	var notes []string
	if t.FirstByte > 0 {
		notes = append(notes, "first byte after "+FormatDuration(t.FirstByte))
	}
	if t.Wasted > 0 || t.HashFailures > 0 {
		notes = append(notes, wasted(t.Wasted, t.HashFailures))
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, ", ")
	}
	o.UI.Printf("%s\n", line)
	if !o.UI.Verbose || o.UI.Quiet {
		return
	}
	rows := make([][]string, 0, len(r.Archives))
	for _, a := range r.Archives {
		if a.Cached {
			rows = append(rows, []string{a.Archive, "cache", units.FormatBytes(a.Total), "-", "-", "-", "-", "-", "-", "-", "-"})
			continue
		}
		rows = append(rows, []string{a.Archive, "network", units.FormatBytes(a.Total), units.FormatBytes(a.FromSeeder), units.FormatBytes(a.FromMirrors),
			units.FormatBytes(a.FromPeers), strconv.Itoa(a.Peers), httpReceived(a.Transfer), units.FormatBytes(a.AlreadyHad),
			units.FormatBytes(a.Wasted), FormatDuration(a.FirstByte)})
	}
	// The column was "WEB SEED" while the dry run's became "HTTP" (web
	// seed, last resort or no): the bytes a server's /packages/ sent
	// as a last resort were counted under "WEB SEED", which the dry run
	// and the one-line report tell apart. The same words, and the dry
	// run's line saying what each means.
	o.UI.Table([]string{"ARCHIVE", "SOURCE", "SIZE", "SEEDER", "MIRRORS", "PEERS", "N", "HTTP", "HAD", "WASTED", "FIRST BYTE"}, rows)
	if t.FromWebSeed > 0 {
		o.UI.Printf("HTTP: what a server's /packages/ sent, %s\n", HTTPMeaning)
	}
}

// mirrors names the servers' seeders other than the publisher's that sent
// bytes: they are no "other peers" (a mirror's peer port is in no catalog,
// and the report counted it among them).
func mirrors(n int) string {
	if n <= 1 {
		return "a mirror's seeder"
	}
	return fmt.Sprintf("%d mirrors' seeders", n)
}

// The words of the HTTP columns of the dry run (where a server's
// /packages/ would serve an archive) and of the -v transfer report (what
// it sent), and the line under both tables that says what they mean.
const (
	HTTPWebSeed    = "web seed"
	HTTPLastResort = "last resort"
	HTTPBusy       = "busy"
	HTTPNo         = "no"
	HTTPMeaning    = "as a web seed (asked when peers send little) or as a last resort (asked only when BitTorrent has no source)"
)

// httpReceived is the -v report's HTTP cell: "no" when nothing came over
// HTTP, else the bytes and as what ("1.0 MiB last resort").
func httpReceived(t swarm.Transfer) string {
	switch {
	case t.FromWebSeed == 0:
		return HTTPNo
	case t.WebSeedLastResort:
		return units.FormatBytes(t.FromWebSeed) + " " + HTTPLastResort
	}
	return units.FormatBytes(t.FromWebSeed) + " " + HTTPWebSeed
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
	return many + " at " + resolve.JoinAndOthers(hosts, 3) + end
}

// FormatDuration prints a duration for people: milliseconds below a second,
// seconds with two decimals above.
func FormatDuration(d time.Duration) string {
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
