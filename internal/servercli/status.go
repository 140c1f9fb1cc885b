package servercli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

type statusOptions struct{ json bool }

func newStatus(e *env) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the running server's components, addresses, packages, peers and traffic",
		Long: `status asks the running server (or mirror) what it serves: its components and
addresses, the catalog's serial and packages, the peers the tracker knows and those
connected to the seeder, and the bytes uploaded: by the seeder, and over HTTP by the
web seed (/packages/: a mirror serves installs so while the publisher is down). A
seeder that announces to trackers (start --no-tracker, and a mirror) has an announce
line for each: whether it takes the announces, or refuses them or does not answer,
why, since when and how often. Without the embedded tracker ("tracker: off"),
--json has null for its counters (tracked_peers, tracked_hosts, announces).`,
		Example: `  dist-server status
  dist-server status --json | jq '{serial, packages, uploaded_bytes}'`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runStatus(ctx context.Context, e *env, o statusOptions, _ []string) error {
	cfg, sp, err := e.inspect("status", "publish packages with dist-server add PATH..., then serve them with dist-server start")
	if err != nil {
		return err
	}
	pid, running := runningPID(sp)
	if !running {
		hint := "start it with: dist-server start"
		if isMirrorHome(sp) {
			hint = "start it with: dist-server mirror URL (the primary's; start refuses in a mirror's data home)"
		}
		return cli.WithHint(errors.New("status: not running"+diedNote(sp)), hint)
	}
	info, err := readInfo(sp)
	if errors.Is(err, os.ErrNotExist) {
		// server.json is written once the server answers status: a
		// publisher's before it checks its archives (Verifying), a
		// mirror's once it serves its primary's catalog.
		who := "the server"
		if pid > 0 {
			who = fmt.Sprintf("the server (pid %d)", pid)
		}
		return cli.WithHint(fmt.Errorf("status: %s is starting and not ready yet", who), "it answers status once it listens (a mirror once it has its primary's catalog), and says then how far its start came; see "+sp.Log())
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	st, err := fetchStatus(ctx, info.Control, 5*time.Second)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	// Said at start, and again here, where a publisher looks later: the
	// catalog a mirror serves is its primary's, fixed there.
	if len(st.MirrorOf) == 0 {
		_, credentials, example := publishedTorrents(ctx, cfg, sp)
		warnCredentials(e, credentials, example)
	}
	if o.json {
		return e.UI.JSON(st)
	}
	what := "dist-server" // as start and mirror say it (a newcomer's run)
	if len(st.MirrorOf) > 0 {
		what = "dist-server mirror"
	}
	e.UI.Dataf("%s running (pid %d, since %s)\n", what, st.PID, st.Started.Local().Format(time.DateTime))
	// One column for the values: a mirror's longer labels move it right.
	width := len("packages:")
	if len(st.MirrorOf) > 0 {
		width = len("mirror of:")
	}
	line := func(label, format string, a ...any) {
		e.UI.Dataf("  %-*s %s\n", width, label+":", fmt.Sprintf(format, a...))
	}
	if len(st.MirrorOf) > 0 {
		line("mirror of", "%s", strings.Join(st.MirrorOf, ", "))
		if st.Filling {
			line("starting", "serving the catalog, fetching the archives first (dist-server mirror returns once they are in, or after 5 minutes)")
		}
		if !st.SyncedAt.IsZero() {
			line("synced", "%s from %s", st.SyncedAt.Local().Format(time.DateTime), st.SyncedFrom)
		}
		if !st.SyncFailedAt.IsZero() {
			line("failed", "sync at %s (serving the catalog held): %s", st.SyncFailedAt.Local().Format(time.DateTime), st.SyncError)
		}
		// Not failed: it answers, with an older catalog (a primary
		// restored from a backup), and the one held is served on.
		for _, b := range st.PrimaryBehind {
			expired := ""
			if b.Stale {
				expired = ", expired"
			}
			line("behind", "%s serves serial %d%s, older than the catalog held, since %s (serving serial %d)", b.URL, b.Serial, expired, st.PrimaryBehindSince.Local().Format(time.DateTime), st.Serial)
		}
	}
	if st.Verifying {
		// Before the check counted its archives: not "0 of 0 checked".
		doing := "reading the catalog to check its archives"
		if st.ToVerify > 0 {
			doing = fmt.Sprintf("verifying archives, %d of %d checked", st.Verified, st.ToVerify)
		}
		line("starting", "%s (the catalog is served once each is; dist-server start returns then)", doing)
	}
	if !st.UnsignedSince.IsZero() {
		line("unsigned", "catalog.db since %s, serving serial %d: %s", st.UnsignedSince.Local().Format(time.DateTime), st.Serial, st.UnsignedError)
	}
	if !st.ResignFailingSince.IsZero() {
		line("re-sign", "failing since %s: %s; the catalog served is valid until %s, and clients refuse it after",
			st.ResignFailingSince.Local().Format(time.DateTime), st.ResignError, st.ResignValidUntil.Local().Format(time.DateTime))
	}
	show := func(name, addr string) {
		if addr == "" {
			addr = "off"
		}
		line(name, "%s", addr)
	}
	show("catalog", st.Database)
	show("tracker", st.Tracker)
	show("seeder", st.Peer)
	for _, h := range st.SeederAnnounces {
		line("announce", "%s", announceHealth(h, cfg.TrackerWhitelist))
	}
	switch missing := st.Packages - st.Seeding; {
	case st.Verifying: // the catalog is not served yet: the starting line says how far it is
	case st.Peer == "" || missing <= 0:
		line("packages", "%d (catalog serial %d), seeding %d", st.Packages, st.Serial, st.Seeding)
	case len(st.MirrorOf) > 0: // fetched from the primary, each round
		line("packages", "%d (catalog serial %d), seeding %d (%d still to fetch from the primary)", st.Packages, st.Serial, st.Seeding, missing)
	default: // its archive missing or damaged: the log names it, and it is tried again every 30 s
		line("packages", "%d (catalog serial %d), seeding %d (%d cannot be seeded: the log says why)", st.Packages, st.Serial, st.Seeding, missing)
	}
	var tracked, hosts int // null when the tracker is off
	if st.TrackedPeers != nil {
		tracked = *st.TrackedPeers
	}
	if st.TrackedHosts != nil {
		hosts = *st.TrackedHosts
	}
	switch {
	case st.Tracker == "" && st.Peer == "":
	case st.Tracker == "": // a mirror, or --no-tracker: the tracker is elsewhere
		line("peers", "%d connected to the seeder", st.Connected)
	// Hosts, and the swarms' entries beside them: --json's tracked_peers
	// and the metric distpac_tracker_peers count a peer once per torrent,
	// the server's own seeder too, and a newcomer's run read "1 known to
	// the tracker" beside 9 there.
	// "0 swarm entries, the seeder's own among them" contradicted itself,
	// and "swarm entries" was opaque (a newcomer's run). So did "0 hosts
	// known to the tracker, in 2 host-and-package entries (the seeder's
	// own included)": the hosts leave the seeder out, the entries count
	// it; the hosts are now called other hosts, the entries with it.
	case tracked == 0 && st.Peer == "":
		line("peers", "none known to the tracker yet")
	case tracked == 0:
		line("peers", "none known to the tracker yet, %d connected to the seeder", st.Connected)
	case st.Peer == "":
		line("peers", "%s known to the tracker, in %s", ui.Count(hosts, "host"), entries(tracked))
	default:
		line("peers", "%s known to the tracker (%s with the seeder's own), %d connected to the seeder",
			ui.Count(hosts, "other host"), entries(tracked), st.Connected)
	}
	if st.Database == "" { // --no-database: no web seed
		line("uploaded", "%s by the seeder", units.FormatBytes(st.Uploaded))
	} else {
		line("uploaded", "%s by the seeder, %s over HTTP (/packages/)", units.FormatBytes(st.Uploaded), units.FormatBytes(st.WebSeedBytes))
	}
	return nil
}

// announceHealth says how the seeder's announces to one tracker fare: a
// seeder that announced to an opentracker refusing every announce
// (unable to read its whitelist) showed "tracker: off" and nothing else,
// the refusals only WARN lines in the log (a newcomer's run). whitelist
// is tracker_whitelist: a tracker that refuses as opentracker does when
// a torrent is not on its list is pointed at it.
func announceHealth(h swarm.TrackerHealth, whitelist string) string {
	if h.Failing == 0 {
		return fmt.Sprintf("%s takes the seeder's announces (%s)", h.URL, ui.Count(h.Torrents, "package"))
	}
	what := "does not answer the seeder's announces"
	if h.Refused {
		what = "refuses the seeder's announces"
	}
	s := fmt.Sprintf("%s %s: %s (since %s, %s, %d of %s)", h.URL, what, strings.TrimSuffix(h.Reason, "."),
		h.Since.Local().Format(time.DateTime), ui.Count(h.Failures, "failure"), h.Failing, ui.Count(h.Torrents, "package"))
	// opentracker's words for an infohash its accesslist lacks. A
	// tracker that takes some packages' announces reads the list: it
	// has not read it again since the last add (an operator's run:
	// "check that it can read" sent them to the file's modes, while
	// opentracker only wanted its SIGHUP).
	switch {
	case !h.Refused || whitelist == "" || !strings.Contains(h.Reason, "not authorized"):
	case h.Failing < h.Torrents:
		s += fmt.Sprintf("; it takes the others' announces, so it reads tracker_whitelist %s but has not read it again since the last add or remove: send it SIGHUP (README: opentracker)", whitelist)
	default:
		s += fmt.Sprintf("; check that the tracker's user can read tracker_whitelist %s, and that the tracker read it again since it last changed (SIGHUP) (README: opentracker)", whitelist)
	}
	return s
}

// fetchStatus asks a running server's control endpoint (Info.Control) for
// its status, giving up after timeout.
func fetchStatus(ctx context.Context, control string, timeout time.Duration) (server.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var st server.Status
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, control+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	// The status is a few hundred bytes; a megabyte bounds a confused peer.
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
	return st, err
}

// entries counts the tracker's swarm entries: a host once per package it
// announced.
func entries(n int) string {
	if n == 1 {
		return "1 host-and-package entry"
	}
	return fmt.Sprintf("%d host-and-package entries", n)
}

// diedNote is what a server.json left behind says of a server that is not
// running: one that ended without stopping (kill -9, a crash, the machine
// down) leaves it, which stop removes; status said only "not running", as
// of a server stopped (an operator's run). "" when there is none.
func diedNote(sp paths.Server) string {
	info, err := readInfo(sp)
	if err != nil || info.PID <= 0 {
		return ""
	}
	who := "the server"
	if isMirrorHome(sp) {
		who = "the mirror"
	}
	return fmt.Sprintf(": %s (pid %d, started %s) ended without stopping (killed, or the machine went down); see the end of %s",
		who, info.PID, info.Started.Local().Format(time.DateTime), sp.Log())
}
