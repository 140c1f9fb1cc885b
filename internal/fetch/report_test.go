package fetch

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
)

// The transfer report names the web seeds that sent pieces.
func TestWebSeedsNamed(t *testing.T) {
	for _, c := range []struct {
		hosts      []string
		lastResort bool
		want       string
	}{
		{nil, false, "the web seed"},
		{[]string{"a:1"}, false, "the web seed at a:1"},
		{[]string{"a:1", "b:2"}, false, "the web seeds at a:1 and b:2"},
		{[]string{"a:1", "b:2", "c:3"}, false, "the web seeds at a:1, b:2 and c:3"},
		{[]string{"a:1", "b:2", "c:3", "d:4"}, false, "the web seeds at a:1, b:2, c:3 and 1 other"},
		{[]string{"a:1", "b:2", "c:3", "d:4", "e:5"}, false, "the web seeds at a:1, b:2, c:3 and 2 others"},
		// A torrent that names no web seed: the servers' /packages/ as a
		// last resort, which the report called a web seed.
		{[]string{"a:1"}, true, "the server's /packages/ at a:1 (last resort: BitTorrent had no source)"},
		{[]string{"a:1", "b:2"}, true, "the servers' /packages/ at a:1 and b:2 (last resort: BitTorrent had no source)"},
	} {
		if got := webSeeds(c.hosts, c.lastResort); got != c.want {
			t.Errorf("webSeeds(%q, %v) = %q, want %q", c.hosts, c.lastResort, got, c.want)
		}
	}
}

// The totals call the HTTP bytes a last resort only when every archive's
// were.
func TestTotalsLastResort(t *testing.T) {
	arch := func(web int64, lastResort bool) ArchiveReport {
		return ArchiveReport{Transfer: swarm.Transfer{FromWebSeed: web, WebSeedLastResort: lastResort}}
	}
	for _, c := range []struct {
		name string
		r    Report
		want bool
	}{
		{"one last resort", Report{Archives: []ArchiveReport{arch(10, true)}}, true},
		{"a web seed beside it", Report{Archives: []ArchiveReport{arch(10, true), arch(5, false)}}, false},
		{"an archive with no HTTP bytes does not count", Report{Archives: []ArchiveReport{arch(10, true), arch(0, false)}}, true},
		{"no HTTP bytes", Report{Archives: []ArchiveReport{arch(0, true)}}, false},
	} {
		if got, _, _ := c.r.Totals(); got.WebSeedLastResort != c.want {
			t.Errorf("%s: last resort %v, want %v", c.name, got.WebSeedLastResort, c.want)
		}
	}
}

// The note on wasted bytes counts the failed pieces in words that agree,
// and only when there are some.
func TestWastedNote(t *testing.T) {
	for _, c := range []struct {
		bytes    int64
		failures int
		want     string
	}{
		{16383, 0, "16.0 KiB wasted"},
		{64 << 10, 1, "64.0 KiB wasted (1 piece that failed its hash)"},
		{128 << 10, 2, "128.0 KiB wasted (2 pieces that failed their hash)"},
	} {
		if got := wasted(c.bytes, c.failures); got != c.want {
			t.Errorf("wasted(%d, %d) = %q, want %q", c.bytes, c.failures, got, c.want)
		}
	}
}

// The -v report's HTTP column uses the dry run's words: the bytes a
// server's /packages/ sent as a web seed or as a last resort, "no" when
// nothing came over HTTP, and the line saying what they mean. It was a
// "WEB SEED" column that counted a last resort's bytes as a web seed's.
func TestVerboseReportHTTPColumn(t *testing.T) {
	var out bytes.Buffer
	p := ui.New(&out, io.Discard, false)
	p.Verbose = true
	o := &Options{UI: p}
	o.printReport(Report{Archives: []ArchiveReport{
		{Archive: "a-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 2048, FromSeeder: 2048}},
		{Archive: "b-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 1024, FromWebSeed: 1024}},
		{Archive: "c-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 1024, FromWebSeed: 1024, WebSeedLastResort: true}},
		{Archive: "d-1.0.0.tar.zst", Cached: true, Transfer: swarm.Transfer{Total: 1024}},
	}})
	for _, re := range []string{
		`(?m)^ARCHIVE +SOURCE +SIZE +SEEDER +MIRRORS +PEERS +N +HTTP +HAD +WASTED +FIRST BYTE$`,
		`(?m)^a-1\.0\.0\.tar\.zst +network +2\.0 KiB +2\.0 KiB +0 B +0 B +0 +no +0 B `,
		`(?m)^b-1\.0\.0\.tar\.zst +network +1\.0 KiB +0 B +0 B +0 B +0 +1\.0 KiB web seed +0 B `,
		`(?m)^c-1\.0\.0\.tar\.zst +network +1\.0 KiB +0 B +0 B +0 B +0 +1\.0 KiB last resort +0 B `,
		`(?m)^HTTP: what a server's /packages/ sent, as a web seed \(asked when peers send little\) or as a last resort \(asked only when BitTorrent has no source\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("report does not match %s:\n%s", re, out.String())
		}
	}
	if strings.Contains(out.String(), "WEB SEED") {
		t.Errorf("report still has a WEB SEED column:\n%s", out.String())
	}
}

// What a mirror's seeder sent (dist-server mirror, at a host of
// server_urls) is a server's, named apart from the publisher's seeder and
// from other peers, in the line and in -v's MIRRORS column; it was counted
// among "other peers", a mirror's peer port being in no catalog.
func TestReportNamesMirrors(t *testing.T) {
	one := ArchiveReport{Archive: "a-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 3 << 20, FromSeeder: 1 << 20, FromMirrors: 2 << 20, Mirrors: 1}}
	two := ArchiveReport{Archive: "b-1.0.0.tar.zst", Transfer: swarm.Transfer{Total: 1 << 20, FromMirrors: 512 << 10, Mirrors: 2, FromPeers: 512 << 10, Peers: 1}}
	for _, c := range []struct {
		name     string
		archives []ArchiveReport
		want     []string
	}{
		{"one mirror", []ArchiveReport{one}, []string{
			`: 1\.0 MiB from the publisher's seeder, 2\.0 MiB from a mirror's seeder; first`,
			`(?m)^a-1\.0\.0\.tar\.zst +network +3\.0 MiB +1\.0 MiB +2\.0 MiB +0 B +0 +no `}},
		{"two mirrors and a peer", []ArchiveReport{one, two}, []string{
			`: 1\.0 MiB from the publisher's seeder, 2\.5 MiB from 2 mirrors' seeders, 512\.0 KiB from 1 other peer; first`,
			`(?m)^b-1\.0\.0\.tar\.zst +network +1\.0 MiB +0 B +512\.0 KiB +512\.0 KiB +1 +no `}},
	} {
		var out bytes.Buffer
		p := ui.New(&out, io.Discard, false)
		p.Verbose = true
		for i := range c.archives {
			c.archives[i].FirstByte = time.Millisecond
		}
		(&Options{UI: p}).printReport(Report{Archives: c.archives, Elapsed: time.Second})
		for _, re := range c.want {
			if !regexp.MustCompile(re).MatchString(out.String()) {
				t.Errorf("%s: report does not match %s:\n%s", c.name, re, out.String())
			}
		}
		if c.name == "one mirror" && strings.Contains(out.String(), "other peer") {
			t.Errorf("%s: a mirror's bytes said to come from other peers:\n%s", c.name, out.String())
		}
	}
}

// What a daemon that left the install in the middle had verified is said
// to be taken from it, not to come "from an earlier, interrupted
// download": it was this install's own daemon. What an earlier download
// had kept still is said so, alone or beside it. The daemon's part counts
// in what the install downloaded and its rate: over the whole download's
// time, the rest alone read 1.5 MiB/s of a link held at 2 MiB/s (a
// newcomer's run).
func TestReportHandedOver(t *testing.T) {
	const earlier = "already verified from an earlier, interrupted download"
	const handed = "verified by the daemon earlier in this install"
	for _, c := range []struct {
		name     string
		a        ArchiveReport
		want     []string
		wantNone []string
	}{
		// Over the install's 2 s, what the network brought this time;
		// the daemon's part came in this install, and counts with it.
		{"an earlier download resumed", ArchiveReport{Transfer: swarm.Transfer{Total: 4 << 20, FromSeeder: 3 << 20, AlreadyHad: 1 << 20}},
			[]string{"downloaded 3.0 MiB in 2.00s (1.5 MiB/s)", "1.0 MiB " + earlier}, []string{handed}},
		{"the daemon stopped", ArchiveReport{HandedOver: 2 << 20, Transfer: swarm.Transfer{Total: 4 << 20, FromSeeder: 2 << 20, AlreadyHad: 2 << 20}},
			[]string{"downloaded 4.0 MiB in 2.00s (2.0 MiB/s): 2.0 MiB from the publisher's seeder, 2.0 MiB " + handed}, []string{earlier}},
		{"both", ArchiveReport{HandedOver: 2 << 20, Transfer: swarm.Transfer{Total: 4 << 20, FromSeeder: 1 << 20, AlreadyHad: 3 << 20}},
			[]string{"downloaded 3.0 MiB in 2.00s (1.5 MiB/s)", "1.0 MiB " + earlier + ", 2.0 MiB " + handed}, nil},
	} {
		var out bytes.Buffer
		o := &Options{UI: ui.New(&out, io.Discard, false)}
		c.a.Archive = "huge-1.0.0.tar.zst"
		o.printReport(Report{Archives: []ArchiveReport{c.a}, Elapsed: 2 * time.Second})
		for _, w := range c.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: report %q lacks %q", c.name, out.String(), w)
			}
		}
		for _, w := range c.wantNone {
			if strings.Contains(out.String(), w) {
				t.Errorf("%s: report %q says %q", c.name, out.String(), w)
			}
		}
	}
}

// HandedOver counts only after a handover, and only what is beyond what
// the partial download held when the fetch started.
func TestHandedOver(t *testing.T) {
	r := catalog.Package{Archive: "huge-1.0.0.tar.zst"}
	f := &Fetch{startPart: map[string]int64{r.Archive: 1 << 20}}
	if got := f.handedOver(r, swarm.Transfer{AlreadyHad: 3 << 20}); got != 0 {
		t.Errorf("no handover: %d handed over, want 0", got)
	}
	f.handovers = 1
	for _, c := range []struct{ had, want int64 }{{3 << 20, 2 << 20}, {1 << 20, 0}, {512 << 10, 0}} {
		if got := f.handedOver(r, swarm.Transfer{AlreadyHad: c.had}); got != c.want {
			t.Errorf("after a handover, %d already had of %d at the start: %d handed over, want %d", c.had, 1<<20, got, c.want)
		}
	}
}

// An archive a fetch stopped in the middle of, after its daemon left it,
// has what the daemon had verified handed over in its report, as a whole
// one has (history --json keeps it): it was put down as already had from
// an earlier, interrupted download. Without a handover, or where the
// source did not say, none is.
func TestIncompleteHandedOver(t *testing.T) {
	r := catalog.Package{Archive: "huge-1.0.0.tar.zst", Size: 32 << 20}
	for _, c := range []struct {
		name      string
		handovers int
		stopped   bool
		want      int64
	}{
		{"after a handover", 1, true, 9 << 20},
		{"no handover", 0, true, 0},
		{"the source did not say", 1, false, 0},
	} {
		f := &Fetch{need: []catalog.Package{r}, pending: map[string]bool{r.Archive: true}, handovers: c.handovers,
			startPart: map[string]int64{r.Archive: 1 << 20}, stopped: map[string]swarm.Transfer{}}
		if c.stopped {
			f.stopped[r.Archive] = swarm.Transfer{Total: r.Size, AlreadyHad: 10 << 20, FromSeeder: 2 << 20}
		}
		f.addIncomplete()
		if len(f.report.Archives) != 1 || !f.report.Archives[0].Incomplete {
			t.Fatalf("%s: report %+v, want the archive incomplete", c.name, f.report.Archives)
		}
		if got := f.report.Archives[0].HandedOver; got != c.want {
			t.Errorf("%s: %d handed over, want %d", c.name, got, c.want)
		}
	}
}
