package clientcli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

type statusOptions struct {
	json bool
}

func newStatus(e *env) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's torrents, the catalog's age and what is installed and upgradable",
		Long: `status shows, like transmission-remote -l: the running daemon (its peer address,
seeding policy and every torrent with its state, peers, rates, bytes sent and ratio),
the local catalog (serial, server, when it was synced and until when it is valid), and
how many packages are installed and which have newer versions (as of the last sync):
those upgrade would move, then the held ones it leaves ("held back"), then the
"kept back" ones, whose newest version cannot be had with what is installed, each with
the reason (as upgrade and list --upgradable give it). While another dist-client
changes the installation (install, upgrade, uninstall), a "change:" line names its
pid. It reads local state only, takes no lock and never contacts the server.`,
		Example: `  dist-client status
  dist-client status --json | jq '.daemon.items[] | {name, state, ratio}'`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStatus(cmd.Context(), e, o) },
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

// clientStatus is `status --json`.
type clientStatus struct {
	Daemon    *daemon.Status        `json:"daemon"` // null when no daemon runs
	Catalog   *catalogclient.Status `json:"catalog"`
	Installed int                   `json:"installed"`
	// Upgradable is what upgrade would move; Held, the held packages that
	// have newer versions, which it leaves.
	Upgradable []upgradableJSON `json:"upgradable"`
	Held       []upgradableJSON `json:"held"`
	// KeptBack are installed packages whose newest version cannot be had
	// with what is installed, and why.
	KeptBack []install.KeptBack `json:"kept_back"`
	// NotAnswering is a daemon that holds the socket's lock and does not
	// answer: starting, stopping, or waiting for an install to free
	// peer_addr. Daemon is null then, and a script that took that for no
	// daemon started a second one, which is refused (the review).
	NotAnswering *silentDaemon `json:"daemon_not_answering,omitempty"`
	// Change is the dist-client that holds the lock, changing the
	// installation now (install, upgrade, uninstall...): what Installed
	// and Upgradable say is from before it. Null when none does.
	Change *lockHolder `json:"change"`
}

// lockHolder is a process that holds the client's lock; PID is 0 where
// the system does not say which process it is.
type lockHolder struct {
	PID int `json:"pid"`
}

// silentDaemon is a daemon that does not answer; PID is 0 where the
// system does not say which process it is.
type silentDaemon struct {
	PID int `json:"pid"`
}

func runStatus(ctx context.Context, e *env, o statusOptions) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	e.warnInterrupted(ctx)
	var out clientStatus
	if d := daemon.Dial(ctx, in.Paths.DaemonSocket()); d != nil {
		st, err := d.Status(ctx)
		if err != nil {
			return err
		}
		out.Daemon = &st
	} else if daemon.Locked(in.Paths.DaemonSocket()) {
		out.NotAnswering = &silentDaemon{PID: max(daemon.Holder(in.Paths.DaemonSocket()), 0)}
	}
	if pid, held := state.Holder(in.Paths.Lock()); held {
		out.Change = &lockHolder{PID: pid}
	}
	now := time.Now()
	cs, err := catalogclient.ReadStatus(ctx, in.Paths.Dir, now)
	switch {
	case err == nil:
		out.Catalog = &cs
	case !errors.Is(err, catalogclient.ErrNoCatalog):
		return err
	}
	st, err := e.installed()
	if err != nil {
		return err
	}
	out.Installed = len(st.Packages)
	out.Upgradable, out.Held, out.KeptBack = []upgradableJSON{}, []upgradableJSON{}, []install.KeptBack{}
	if out.Catalog != nil {
		moves, held, kept, err := in.Upgradable(ctx)
		if err != nil {
			return err
		}
		out.Upgradable, out.Held = upgradableRows(moves), upgradableRows(held)
		if kept != nil {
			out.KeptBack = kept
		}
	}
	if o.json {
		return e.UI.JSON(out)
	}
	printStatus(e, out, now)
	return nil
}

func printStatus(e *env, s clientStatus, now time.Time) {
	if d := s.Daemon; d != nil {
		e.UI.Dataf("daemon:   running (pid %d) for %s, peers connect to %s, seed: %s\n", d.PID, ago(now, d.Started), d.Listen, d.Seed)
		e.UI.Dataf("          %s, %s, sent %s, received %s\n", ui.Count(d.Torrents, "torrent"), ui.Count(d.Peers, "peer"), units.FormatBytes(d.Uploaded), units.FormatBytes(d.Downloaded))
		if len(d.Items) > 0 {
			rows := make([][]string, 0, len(d.Items))
			for _, t := range d.Items {
				done := "100%"
				if t.Size > 0 && t.Done < t.Size {
					done = strconv.FormatInt(t.Done*100/t.Size, 10) + "%"
				}
				rows = append(rows, []string{t.Name, t.State, done, strconv.Itoa(t.Peers),
					units.FormatRate(t.UpRate), units.FormatRate(t.DownRate), units.FormatBytes(t.Uploaded), fmt.Sprintf("%.2f", t.Ratio)})
			}
			e.UI.Table([]string{"ARCHIVE", "STATE", "DONE", "PEERS", "UP", "DOWN", "SENT", "RATIO"}, rows)
		}
	} else if s.NotAnswering != nil {
		// A daemon that waits for an install to free peer_addr has given
		// its socket up (internal/daemon): "not running" would send the
		// user to start a second one, which is refused.
		who := "a daemon"
		if s.NotAnswering.PID > 0 {
			who = fmt.Sprintf("a daemon (pid %d)", s.NotAnswering.PID)
		}
		e.UI.Dataf("daemon:   %s is there but does not answer: starting, stopping, or waiting for an install to free peer_addr (see its log)\n", who)
	} else {
		e.UI.Dataf("daemon:   not running (dist-client daemon starts it; installs then keep being seeded)\n")
	}
	if c := s.Catalog; c != nil {
		valid := "valid until " + c.ValidUntil.Local().Format(time.DateTime)
		if c.Expired {
			valid = "EXPIRED " + ago(now, c.ValidUntil) + " ago: run dist-client sync"
		}
		synced := "never synced"
		switch {
		case c.SyncedAt.After(now):
			// sync.json's time, or the clock, is wrong.
			synced = "synced in the future (" + c.SyncedAt.Local().Format(time.DateTime) + ")"
		case !c.SyncedAt.IsZero():
			synced = "synced " + ago(now, c.SyncedAt) + " ago"
		}
		// The URL comes from sync.json: quoted if it holds what a terminal
		// would act on (escape sequences, an attacker's run).
		from := ui.Untrusted(cmp.Or(c.ServerURL, "an unknown server"), maxURLShown)
		e.UI.Dataf("catalog:  serial %d, %s from %s, %s, %s\n", c.Serial, ui.Count(c.Packages, "package version"), from, synced, valid)
		if c.StateErr != "" {
			e.UI.Warnf("%s\n", c.StateErr)
		}
	} else {
		e.UI.Dataf("catalog:  none yet: run dist-client sync\n")
	}
	if s.Change != nil {
		who := "another dist-client"
		if s.Change.PID > 0 {
			who = fmt.Sprintf("another dist-client (pid %d)", s.Change.PID)
		}
		e.UI.Dataf("change:   %s is changing this installation: the packages below are as they were before it\n", who)
	}
	held := ""
	if len(s.Held) > 0 {
		held = fmt.Sprintf(", %d held back", len(s.Held))
	}
	if len(s.KeptBack) > 0 {
		held += fmt.Sprintf(", %d kept back", len(s.KeptBack))
	}
	e.UI.Dataf("packages: %d installed, %d upgradable%s\n", s.Installed, len(s.Upgradable), held)
	for _, u := range s.Upgradable {
		e.UI.Dataf("          %s %s -> %s\n", u.Name, u.Installed, u.Available)
	}
	for _, u := range s.Held {
		e.UI.Dataf("          %s %s -> %s (held)\n", u.Name, u.Installed, u.Available)
	}
	for _, k := range s.KeptBack {
		e.UI.Dataf("          %s %s, kept back: %s cannot be installed: %s\n", k.Name, k.Version, k.Newest, k.Why)
	}
}

// maxURLShown bounds the server URL status shows from sync.json.
const maxURLShown = 1 << 10

// ago is a short human duration since t, whole units counted down
// (catalogclient.Age: "2m" for 2m12s; "2m0s" read as exact).
func ago(now, t time.Time) string { return catalogclient.Age(now.Sub(t)) }
