package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/fetch"
	"github.com/distpac/distpac/internal/httpbound"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/torrentmeta"
	"github.com/distpac/distpac/internal/trackerclient"
	"github.com/distpac/distpac/internal/units"

	"golang.org/x/sync/errgroup"
)

// ErrWouldFail is returned by a dry run whose plan could not be carried out
// now (no source for an archive, or no room on disk).
var ErrWouldFail = errors.New("the plan would fail")

// probeTimeout bounds each availability probe of a dry run.
const probeTimeout = 5 * time.Second

// probeConcurrency bounds the probes of a dry run running at once.
const probeConcurrency = 32

// A dry run's time estimate comes from this client's own past downloads:
// the probe finds who has an archive, not how fast they send, and no
// fixed rate fits both a LAN and a capped publisher (a fixed 10 MiB/s
// a source said 0.2 s for a download that took 3.4 s). The rate is the
// bytes over the download time of the last estimateDownloads successful
// commands that downloaded at least estimateMinBytes (smaller downloads
// measure the set-up, not the rate).
const (
	estimateDownloads = 5
	estimateMinBytes  = 1 << 20
	maxPlausibleRate  = 100 << 30 // bytes a second: more is a damaged entry
)

// Availability is what a dry run found about one archive.
type Availability struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Archive string `json:"archive"`
	Size    int64  `json:"size"`
	// Cached: the archive is in the local cache; nothing to download.
	Cached bool `json:"cached"`
	// Seeders and Leechers are what the trackers know (BEP 48 scrape), -1
	// when no tracker answered; TrackerErr says why.
	Seeders    int    `json:"seeders"`
	Leechers   int    `json:"leechers"`
	TrackerErr string `json:"tracker_error,omitempty"`
	// SeederReachable: the publisher's seeder named by the catalog accepted
	// a TCP connection.
	SeederReachable bool `json:"seeder_reachable"`
	// WebSeed: a server's /packages/ answered for the archive: a web seed
	// the torrent names or one of the client's server_url(s).
	WebSeed bool `json:"web_seed"`
	// WebSeedBusy: no server's /packages/ answered for the archive, and
	// one answered busy (503 or 429 with Retry-After): the install waits
	// for it, at most swarm.DefaultBusyWait, and counts it as a source.
	WebSeedBusy bool `json:"web_seed_busy"`
	// WebSeedLastResort: the torrent names no web seed (the publisher's
	// web_seed is off), so those servers are asked only when BitTorrent has
	// no source at all (swarm.WebSeedOrder), not when peers are slow.
	WebSeedLastResort bool `json:"web_seed_last_resort"`
	// OK: some source can deliver it now.
	OK bool `json:"ok"`
}

// settle sets OK from what the probes found, and returns it: a cached
// archive, or one that some source can deliver now (the trackers' seeders
// and peers, the publisher's seeder, a server's /packages/ that has it or
// answered busy).
func (a *Availability) settle() bool {
	if a.Cached {
		return true
	}
	sources := max(a.Seeders, 0) + max(a.Leechers, 0)
	if a.SeederReachable && a.Seeders <= 0 {
		sources++
	}
	if a.WebSeed {
		a.WebSeedBusy = false // one server has it: none is waited for
	}
	if a.WebSeed || a.WebSeedBusy {
		sources++
	}
	a.OK = sources > 0
	return a.OK
}

// DryRun is a dry run's report: `install --dry-run --json`.
type DryRun struct {
	Packages  []Availability `json:"packages"`
	Download  int64          `json:"download_bytes"`
	Installed int64          `json:"installed_bytes"`
	// Estimate is Download at EstimateRate (bytes a second), the rate of
	// EstimateFrom earlier downloads of this client; all 0 without one.
	Estimate     time.Duration `json:"estimate_ns"`
	EstimateRate int64         `json:"estimate_rate"`
	EstimateFrom int           `json:"estimate_from"`
	SpaceErr     string        `json:"space_error,omitempty"`
	WouldFail    bool          `json:"would_fail"`
}

// probe checks, for every archive of the plan that is not cached, the
// trackers (one scrape per tracker for all archives), the publisher's
// seeder and the web seeds, all at once and each within probeTimeout.
func (c *Client) probe(ctx context.Context, st *state.DB, items []item, size downloadSize) *DryRun {
	// What is left: an interrupted or failed download's verified pieces
	// are not fetched again, as the plan's "Total download size" says (the
	// line under the table said the whole archive, and the estimate was
	// of it).
	dr := &DryRun{Download: size.left()}
	type trackerQ struct {
		ihs  [][20]byte
		idxs []int
	}
	byTracker := map[string]*trackerQ{}
	for i, it := range items {
		a := Availability{Name: it.row.Name, Version: it.row.Version, Archive: it.row.Archive, Size: it.row.Size, Seeders: -1, Leechers: -1}
		dr.Installed += it.row.InstalledSize
		if fetch.Cached(c.Paths.Cache(), it.row) {
			a.Cached, a.OK, a.Seeders, a.Leechers = true, true, 0, 0
			dr.Packages = append(dr.Packages, a)
			continue
		}
		dr.Packages = append(dr.Packages, a)
		ih := fetch.InfoHash(it.row)
		for _, u := range torrentmeta.Trackers(it.row.Torrent) {
			q := byTracker[u]
			if q == nil {
				q = &trackerQ{}
				byTracker[u] = q
			}
			q.ihs = append(q.ihs, ih)
			q.idxs = append(q.idxs, i)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var mu sync.Mutex
	// At most probeConcurrency probes at once: a catalog's rows may name
	// 32 trackers and 32 web seeds each, a plan of 1,000 of them tens of
	// thousands (a review); all share the probeTimeout.
	var probes errgroup.Group
	probes.SetLimit(probeConcurrency)
	client := &trackerclient.Client{}
	for u, q := range byTracker {
		probes.Go(func() error {
			res, err := client.Scrape(ctx, u, q.ihs)
			mu.Lock()
			defer mu.Unlock()
			for k, i := range q.idxs {
				a := &dr.Packages[i]
				if err != nil {
					if a.Seeders < 0 {
						a.TrackerErr = err.Error()
					}
					continue
				}
				r := res[q.ihs[k]]
				a.Seeders, a.Leechers, a.TrackerErr = max(a.Seeders, r.Seeders), max(a.Leechers, r.Leechers), ""
			}
			return nil
		})
	}
	httpc := probeClient()
	mirrors := c.mirrorSeeds() // servers.json read once, not per archive
	for i, it := range items {
		if dr.Packages[i].Cached {
			continue
		}
		for _, s := range torrentmeta.Seeders(it.row.Magnet) {
			probes.Go(func() error {
				ok := dialable(ctx, s)
				mu.Lock()
				dr.Packages[i].SeederReachable = dr.Packages[i].SeederReachable || ok
				mu.Unlock()
				return nil
			})
		}
		seeds, lastResort := webSeedURLs(mirrors, it.row)
		dr.Packages[i].WebSeedLastResort = lastResort
		for _, ws := range seeds {
			probes.Go(func() error {
				ok, busy := probeHead(ctx, httpc, ws)
				mu.Lock()
				dr.Packages[i].WebSeed = dr.Packages[i].WebSeed || ok
				dr.Packages[i].WebSeedBusy = dr.Packages[i].WebSeedBusy || busy
				mu.Unlock()
				return nil
			})
		}
	}
	probes.Wait()
	for i := range dr.Packages {
		if !dr.Packages[i].settle() {
			dr.WouldFail = true
		}
	}
	if dr.Download > 0 && !dr.WouldFail {
		dr.EstimateRate, dr.EstimateFrom = c.pastRate(ctx, st)
		if dr.EstimateRate > 0 {
			dr.Estimate = time.Duration(float64(dr.Download) / float64(dr.EstimateRate) * float64(time.Second))
		}
	}
	if err := c.checkSpace(items, size.left()); err != nil {
		dr.SpaceErr, dr.WouldFail = err.Error(), true
	}
	return dr
}

// printDryRun prints what probe found.
func (c *Client) printDryRun(dr *DryRun) {
	rows := make([][]string, 0, len(dr.Packages))
	for _, a := range dr.Packages {
		if a.Cached {
			rows = append(rows, []string{a.Name + " " + a.Version, units.FormatBytes(a.Size), "cached", "-", "-", "-", "yes"})
			continue
		}
		trk := "?"
		if a.Seeders >= 0 {
			trk = fmt.Sprintf("%d/%d", a.Seeders, a.Leechers)
		}
		rows = append(rows, []string{a.Name + " " + a.Version, units.FormatBytes(a.Size), "network", trk, yesNo(a.SeederReachable), httpSource(a), yesNo(a.OK)})
	}
	// The column was "WEB SEED", and "yes" there mostly meant the last
	// resort, which a newcomer read as a web seed that would serve the
	// download (a newcomer's run): it says which of the two it is, and the
	// line below the table says what each means.
	c.UI.Table([]string{"PACKAGE", "SIZE", "FROM", "SEEDERS/PEERS", "PUBLISHER", "HTTP", "AVAILABLE"}, rows)
	if len(rows) > 0 && dr.Download > 0 {
		c.UI.Printf("HTTP: a server's /packages/ has the archive, %s\n", fetch.HTTPMeaning)
		if slices.ContainsFunc(dr.Packages, func(a Availability) bool { return httpSource(a) == fetch.HTTPBusy }) {
			c.UI.Printf("%s: a server asked to retry later (HTTP 503 or 429 with Retry-After); the install waits for it, at most %s\n", fetch.HTTPBusy, swarm.DefaultBusyWait)
		}
	}
	for _, a := range dr.Packages {
		if a.TrackerErr != "" {
			c.UI.Warnf("%s: %s\n", a.Archive, a.TrackerErr)
		}
	}
	if dr.SpaceErr != "" {
		c.UI.Warnf("%s\n", dr.SpaceErr)
	}
	est := "nothing to download"
	if dr.Download > 0 {
		switch {
		case dr.WouldFail:
			est = "no estimate"
		case dr.Estimate > 0:
			last := "last download"
			if dr.EstimateFrom > 1 {
				last = fmt.Sprintf("last %d downloads", dr.EstimateFrom)
			}
			about := "about " + fetch.FormatDuration(dr.Estimate)
			if dr.Estimate < 100*time.Millisecond {
				about = "under 0.1s" // a download's set-up alone takes longer
			}
			est = fmt.Sprintf("%s at %s, the rate of this client's %s", about, units.FormatRate(float64(dr.EstimateRate)), last)
		default:
			est = "no time estimate before a first download of " + units.FormatBytes(estimateMinBytes) + " or more"
		}
	}
	c.UI.Dataf("download %s, install %s, %s\n", units.FormatBytes(dr.Download), units.FormatBytes(dr.Installed), est)
	if dr.WouldFail {
		c.UI.Dataf("dry run: the plan would fail now; nothing changed\n")
	} else {
		// Not "the plan would succeed": the files a package places are
		// its install.sh's to decide, which a dry run does not run, so a
		// file another package owns stops only the install itself (a
		// newcomer's dry run said the plan would succeed, and the install
		// failed on bin/tool owned by tool).
		c.UI.Dataf("dry run: the plan resolves and its archives can be had and fit on disk (file conflicts and scripts are checked by the install itself); nothing changed\n")
	}
}

// httpSource is the dry run's HTTP column: whether a server's /packages/
// answered, and as what the download would use it.
func httpSource(a Availability) string {
	switch {
	case !a.WebSeed && a.WebSeedBusy:
		return fetch.HTTPBusy
	case !a.WebSeed:
		return fetch.HTTPNo
	case a.WebSeedLastResort:
		return fetch.HTTPLastResort
	}
	return fetch.HTTPWebSeed
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dialable(ctx context.Context, a netip.AddrPort) bool {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.String())
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// probeClient is the dry run's client for web seeds: it follows redirects
// as a download does, and sends a password to the same origin alone
// (httpbound.CheckRedirect); with Go's own rule a probe of a seed behind
// basic auth whose path redirects (an absolute Location) got a 401, and
// said it failed where the download would not.
func probeClient() *http.Client {
	return &http.Client{Timeout: probeTimeout, CheckRedirect: httpbound.CheckRedirect}
}

// probeHead asks u for the archive's headers: ok when it has it (200),
// busy when it answered as a busy web seed (swarm.BusyAnswer), which a
// download waits for; a newcomer's dry run against a server asking to
// retry in 10 s said the archive could not be had, and the install got it.
func probeHead(ctx context.Context, c *http.Client, u string) (ok, busy bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return false, false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, false
	}
	resp.Body.Close()
	_, busy = swarm.BusyAnswer(resp, time.Now())
	return resp.StatusCode == http.StatusOK, busy
}

// mirrorSeeds are the servers' web seeds in the order the engine tries
// them (daemon.MirrorSeeds, as daemon.EngineConfig gives the engine).
func (c *Client) mirrorSeeds() []string {
	return daemon.MirrorSeeds(c.Config, c.Paths.Dir)
}

// webSeedURLs lists where a download may fetch an archive over HTTP, in the
// order the engine tries them (swarm.WebSeedOrder over mirrors, from
// mirrorSeeds): every server of server_urls (its /packages/), then the
// torrent's own web seeds; for a torrent that names none, the servers are
// a last resort, asked only when BitTorrent has no source at all.
func webSeedURLs(mirrors []string, row catalog.Package) (urls []string, lastResort bool) {
	seeds, lastResort := swarm.WebSeedOrder(mirrors, row.Torrent)
	out := make([]string, len(seeds))
	for i, s := range seeds {
		out[i] = torrentmeta.WebSeedURL(s, row.Archive)
	}
	return out, lastResort
}

// pastRate is the download rate of this client's recent downloads
// (estimateDownloads of at least estimateMinBytes) and how many it is
// from; 0, 0 without any.
func (c *Client) pastRate(ctx context.Context, st *state.DB) (rate int64, from int) {
	past, err := st.RecentDownloads(ctx, estimateDownloads, estimateMinBytes)
	if err != nil {
		c.logger().Debug("no time estimate: the history cannot be read", "err", err)
		return 0, 0
	}
	// In floats: a damaged entry (2^62 bytes in 1 ns, an attacker's run)
	// overflowed the sums and the conversion into a negative rate. Entries
	// faster than maxPlausibleRate are left out as damaged.
	var bytes, took float64
	for _, e := range past {
		var r fetch.Report
		if json.Unmarshal(e.Transfer, &r) != nil || r.Elapsed <= 0 || e.Downloaded <= 0 ||
			float64(e.Downloaded)/r.Elapsed.Seconds() > maxPlausibleRate {
			continue
		}
		bytes += float64(e.Downloaded)
		took += r.Elapsed.Seconds()
		from++
	}
	if from == 0 || took <= 0 {
		return 0, 0
	}
	return int64(bytes / took), from
}
