package clientcli

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/swarm"
)

func newDaemon(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Seed cached archives and serve installs in the foreground until interrupted",
		Long: `daemon runs one BitTorrent engine in the foreground. It seeds the cached archives
client.yaml's seed policy names (cached, the default: every one the catalog still lists,
and within 15 s one an install downloaded without the daemon; installed: those of
installed packages, followed within 15 s as they change; none), so
other clients can download from this machine, and serves the CLI over a local socket
(daemon.sock in the client folder): while it runs, dist-client install downloads through
the daemon's engine, and what it downloads keeps being seeded after install exits (with
seed: none it is not). It reads client.yaml at its start, and installs through it use
those settings (server_url(s), rate limits, peer_addr, seed): restart it after changing
the file. Started before the first sync, it seeds nothing until one has
run. Stop it with Ctrl-C or SIGTERM: an install it is downloading for then waits for a
restarted daemon (up to 3 s after it exits) or downloads the rest itself. Started while
an install downloads on peer_addr itself, it says so once, waits for that install to
finish (at most an hour) and then starts (with peer_addr ":0" it starts at once).`,
		Example: `  dist-client daemon                                 # in the foreground; Ctrl-C stops it
  systemctl --user enable --now dist-client          # as a service: contrib/systemd/dist-client.service`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd.Context(), e) },
	}
}

func runDaemon(ctx context.Context, e *env) error {
	cfg, cp, err := e.config()
	if err != nil {
		return err
	}
	swarm.GovernProcs(ctx)
	// A service logs what it does (a download complete, a tracker failing
	// or back, seeding stopped at a limit) as dist-server start does; -q
	// keeps errors only.
	logger := e.LoggerAt(slog.LevelInfo)
	return daemon.Run(ctx, daemon.Options{Paths: cp, Config: cfg, Logger: logger, Printf: e.UI.Printf, Warnf: e.UI.Warnf})
}
