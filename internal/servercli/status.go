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
	"github.com/distpac/distpac/internal/server"
	"github.com/distpac/distpac/internal/units"
)

type statusOptions struct{ json bool }

func newStatus(e *env) *cobra.Command {
	var o statusOptions
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the running server's components, addresses, packages, peers and traffic",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runStatus(ctx context.Context, e *env, o statusOptions, _ []string) error {
	_, sp, err := e.config()
	if err != nil {
		return err
	}
	pid, running := runningPID(sp)
	if !running {
		hint := "start it with: dist-server start"
		if isMirrorHome(sp) {
			hint = "start it with: dist-server mirror URL (the primary's; start refuses in a mirror's data home)"
		}
		return cli.WithHint(errors.New("status: not running"), hint)
	}
	info, err := readInfo(sp)
	if errors.Is(err, os.ErrNotExist) {
		// server.json is written once the server is ready.
		who := "the server"
		if pid > 0 {
			who = fmt.Sprintf("the server (pid %d)", pid)
		}
		return cli.WithHint(fmt.Errorf("status: %s is starting and not ready yet", who), "it checks every archive before it serves; see "+sp.Log())
	}
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	st, err := fetchStatus(ctx, info.Control, 5*time.Second)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if o.json {
		return e.UI.JSON(st)
	}
	e.UI.Dataf("dist-server running (pid %d, since %s)\n", st.PID, st.Started.Local().Format(time.DateTime))
	if len(st.MirrorOf) > 0 {
		e.UI.Dataf("  mirror of: %s\n", strings.Join(st.MirrorOf, ", "))
		if !st.SyncedAt.IsZero() {
			e.UI.Dataf("  synced:    %s from %s\n", st.SyncedAt.Local().Format(time.DateTime), st.SyncedFrom)
		}
		if !st.SyncFailedAt.IsZero() {
			e.UI.Dataf("  sync failed at %s (serving the catalog held): %s\n", st.SyncFailedAt.Local().Format(time.DateTime), st.SyncError)
		}
	}
	show := func(name, addr string) {
		if addr == "" {
			addr = "off"
		}
		e.UI.Dataf("  %-9s %s\n", name+":", addr)
	}
	show("catalog", st.Database)
	show("tracker", st.Tracker)
	show("seeder", st.Peer)
	e.UI.Dataf("  packages: %d (catalog serial %d), seeding %d\n", st.Packages, st.Serial, st.Seeding)
	switch {
	case st.Tracker == "" && st.Peer == "":
	case st.Tracker == "": // a mirror, or --no-tracker: the tracker is elsewhere
		e.UI.Dataf("  peers:    %d connected to the seeder\n", st.Connected)
	case st.Peer == "":
		e.UI.Dataf("  peers:    %d known to the tracker\n", st.TrackedPeers)
	default:
		e.UI.Dataf("  peers:    %d known to the tracker, %d connected to the seeder\n", st.TrackedPeers, st.Connected)
	}
	e.UI.Dataf("  uploaded: %s\n", units.FormatBytes(st.Uploaded))
	return nil
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
