package clientcli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

type installOptions struct {
	stallTimeout time.Duration
}

func newInstall(e *env) *cobra.Command {
	var o installOptions
	c := &cobra.Command{
		Use:   "install PKG...",
		Short: "Download, verify and install packages and their dependencies",
		Long: `install resolves each PKG (name, name@version or name@<constraint>) and its
dependencies against the synced catalog, prints the plan and the total download size,
downloads every archive at once over BitTorrent, checks each against the catalog's
SHA-256, extracts it and runs scripts/install.sh with DISTPAC_NAME, DISTPAC_VERSION,
DISTPAC_PKGDIR, DISTPAC_ASSETS and DISTPAC_PREFIX set. A failing install script is
cleaned up with the package's uninstall.sh and nothing is recorded. A name the
catalog lacks gets the closest names it has as a hint.`,
		Example: `  dist-client install hello
  dist-client install hello@1.0.0
  dist-client install 'hello@>=1.0, <2'`,
		Args: cli.MinArgs(1, "package to install (dist-client install PKG...)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstall(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(catalogOnly, 0),
	}
	c.Flags().DurationVar(&o.stallTimeout, "stall-timeout", 2*time.Minute, "give up when no data arrives for this long")
	return c
}

func runInstall(ctx context.Context, e *env, o installOptions, args []string) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	in.StallTimeout = o.stallTimeout
	e.warnExpired(ctx, in.Paths.Dir)
	return e.withCatalogHint(ctx, in.Install(ctx, args), args)
}

type uninstallOptions struct {
	cascade bool
}

func newUninstall(e *env) *cobra.Command {
	var o uninstallOptions
	c := &cobra.Command{
		Use:     "uninstall NAME...",
		Aliases: []string{"remove"},
		Short:   "Run packages' uninstall scripts and forget them",
		Long: `uninstall runs the installed version's scripts/uninstall.sh and removes the record.
It refuses to remove a package that another installed package depends on, naming the
dependent. With --cascade it also removes the dependencies that were installed
automatically for it and that nothing else installed needs.`,
		Example: `  dist-client uninstall hello
  dist-client remove --cascade hello`,
		Args: cli.MinArgs(1, "package to uninstall (dist-client uninstall NAME...)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUninstall(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&o.cascade, "cascade", false, "also remove dependencies installed automatically that nothing else needs")
	return c
}

func runUninstall(ctx context.Context, e *env, o uninstallOptions, args []string) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	return e.withInstalledHint(in.Uninstall(ctx, args, o.cascade), args)
}
