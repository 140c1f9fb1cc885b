package clientcli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

type upgradeOptions struct {
	dryRun, json bool
	sync, yes    bool
	overwrite    []string
	skipScript   bool
	stallTimeout time.Duration
}

func newUpgrade(e *env) *cobra.Command {
	var o upgradeOptions
	c := &cobra.Command{
		Use:        "upgrade [NAME...]",
		SuggestFor: []string{"full-upgrade", "dist-upgrade"}, // apt, pacman and dnf words
		Short:      "Move installed packages to the newest versions allowed",
		Long: `upgrade plans the move of the named installed packages (all of them without arguments),
and of the installed packages they depend on (as brew upgrade does: a new version may
need newer dependencies; held packages stay), to the newest versions that satisfy every
constraint, shows the plan and the download size, downloads everything first, then for
each package runs the old version's uninstall.sh and stages the new version (its
install.sh into $DISTPAC_DESTDIR). The new files then replace the old ones in one step,
and files the new version no longer ships are removed. A directory the new version ships
as a symlink or a file replaces the old directory whole when it holds only the old
version's entries; a file of yours or of another package in it stops the upgrade, named.
If anything fails before that step, the old versions are restored and the state is as
before (an old version whose uninstall.sh fails stays: --skip-uninstall-script replaces
it without running the script). Run dist-client sync first to see new versions.`,
		Example: `  dist-client sync && dist-client upgrade
  dist-client upgrade --dry-run hello`,
		Args: installedArgs(0, -1, ""),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpgrade(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "show the plan and where each archive would come from; exit 1 if it cannot be resolved, an archive cannot be had or the disk is too small (file conflicts are found by the upgrade itself, once install.sh staged the files)")
	c.Flags().BoolVar(&o.json, "json", false, "print what was done (or, with --dry-run, the probe) as JSON")
	c.Flags().BoolVar(&o.sync, "sync", false, "sync the catalog first (dist-client sync), in the same command; with --dry-run the sync still happens, only the upgrade is not carried out")
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask before downloading more than 100 MiB (asked only on a terminal)")
	c.Flags().StringArrayVar(&o.overwrite, "overwrite", nil, "replace unowned files in the prefix matching `GLOB` (repeatable)")
	c.Flags().BoolVar(&o.skipScript, skipScriptFlag, false, skipScriptUsage)
	stallTimeoutFlag(c, &o.stallTimeout)
	return c
}

func runUpgrade(ctx context.Context, e *env, o upgradeOptions, args []string) error {
	if err := checkStallTimeout(o.stallTimeout); err != nil {
		return err
	}
	in, err := e.placer()
	if err != nil {
		return err
	}
	in.Overwrite = o.overwrite
	in.SkipUninstallScript = o.skipScript
	in.StallTimeout = o.stallTimeout
	in.Confirm = e.confirmer(o.yes || o.json)
	if o.sync {
		if err := runSync(ctx, e, syncOptions{}, nil); err != nil {
			return err
		}
	}
	if o.json {
		in.UI = e.textless()
	}
	in.WarnExpired = true
	e.warnNotInCatalog(ctx, args)
	err = e.withInstalledHint(e.withDownloadHint(in.Upgrade(ctx, args, o.dryRun)), args)
	if o.json {
		e.printOutcome(ctx, in, err)
	}
	return err
}

// warnNotInCatalog warns about the named installed packages the synced
// catalog lacks: upgrade leaves them, and "everything is up to date" alone
// would not say why.
func (e *env) warnNotInCatalog(ctx context.Context, names []string) {
	if len(names) == 0 {
		return
	}
	known := e.catalogNames(ctx)
	st, err := e.installed()
	if known == nil || err != nil {
		return
	}
	for _, n := range names {
		if r, ok := st.Get(n); ok && !containsFold(known, r.Name) {
			e.UI.Warnf("%s\n", withSyncedNote(fmt.Sprintf("%s %s is not in the synced catalog, so upgrade leaves it", r.Name, r.Version), syncedNote(e.syncedAt(ctx), time.Now())))
		}
	}
}
