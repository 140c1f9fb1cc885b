package clientcli

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/daemon"
	"github.com/distpac/distpac/internal/swarm"
	"github.com/distpac/distpac/internal/units"
)

func newDaemon(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Seed cached archives and serve installs in the foreground until interrupted",
		Long: `daemon runs one BitTorrent engine in the foreground. It seeds every archive in the
client's cache that the catalog still lists, so other clients can download from this
machine, and serves the CLI over a local socket (daemon.sock in the client folder):
while it runs, dist-client install downloads through the daemon's engine, and what it
downloads keeps being seeded after install exits. Stop it with Ctrl-C or SIGTERM.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd.Context(), e) },
	}
}

func runDaemon(ctx context.Context, e *env) error {
	cfg, cp, err := e.config()
	if err != nil {
		return err
	}
	db, err := catalogclient.Open(ctx, cp.Dir)
	if err != nil {
		return err
	}
	pkgs, err := db.All(ctx)
	db.Close()
	if err != nil {
		return err
	}
	ln, err := daemon.Listen(cp.DaemonSocket())
	if err != nil {
		return err
	}
	defer ln.Close()
	engine, err := swarm.New(swarm.Config{
		Dir: cp.Cache(), ListenAddr: cfg.PeerAddr, Logger: e.Logger,
		UploadRate: int64(cfg.UploadRateLimit), DownloadRate: int64(cfg.DownloadRateLimit),
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	byArchive := map[string]catalog.Package{}
	for _, p := range pkgs {
		byArchive[p.Archive] = p
	}
	entries, _ := os.ReadDir(cp.Cache())
	var seeding []string
	for _, ent := range entries {
		p, ok := byArchive[ent.Name()]
		if !ok || strings.HasSuffix(ent.Name(), ".part") {
			continue
		}
		if _, err := engine.Seed(ctx, p.Torrent, true); err != nil {
			e.UI.Warnf("not seeding %s: %v\n", filepath.Join(cp.Cache(), ent.Name()), err)
			continue
		}
		seeding = append(seeding, p.Name+" "+p.Version)
	}
	list := ""
	if len(seeding) > 0 {
		list = ": " + strings.Join(seeding, ", ")
	}
	e.UI.Printf("dist-client daemon (pid %d) seeding %d archives on port %d%s\n", os.Getpid(), len(seeding), engine.Port(), list)
	e.UI.Printf("installs from this data home now download through %s\n", cp.DaemonSocket())
	if err := daemon.Serve(ctx, ln, engine, cp.Dir, e.Logger); err != nil {
		return err
	}
	st := engine.Stats()
	e.UI.Printf("daemon stopping; uploaded %s\n", units.FormatBytes(st.Uploaded))
	return nil
}
