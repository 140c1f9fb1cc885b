package clientcli

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/ui"
)

type installOptions struct {
	stallTimeout time.Duration
	overwrite    []string
	dryRun, json bool
	reinstall    bool
	yes          bool
	skipScript   bool
}

func newInstall(e *env) *cobra.Command {
	var o installOptions
	c := &cobra.Command{
		Use:        "install PKG...",
		SuggestFor: []string{"add", "get"}, // apk's and go's words
		Short:      "Download, verify and install packages and their dependencies",
		Long: `install resolves each PKG (name, name@version or name@<constraint>) and its dependencies
against the synced catalog, prints the plan and the total download size (archives
already in the cache are not downloaded again, and the plan says so), checks that the
cache's and the prefix's disks have room, downloads every archive at once over
BitTorrent and stages each package: the archive is extracted while its SHA-256 is
checked (from its start while it still downloads) and, once it is complete,
scripts/install.sh runs with DISTPAC_NAME, DISTPAC_VERSION, DISTPAC_PKGDIR,
DISTPAC_ASSETS, DISTPAC_PREFIX and DISTPAC_DESTDIR set, writing its files under
$DISTPAC_DESTDIR$DISTPAC_PREFIX (a package without install.sh installs its assets/ as
the tree). When every package is staged, the staged files are checked against the files
other packages own and the files already in the prefix (--overwrite allows replacing
unowned ones), then moved into the prefix and recorded in one step. Any failure, a full
disk included, changes nothing: no record, no file placed; each install.sh that ran is
followed by its package's uninstall.sh (last first) to undo what it did outside the
prefix, and an error names a failing one too. Scripts' output is shown (not with -q) and
always appended to scripts.log in the client folder. A name the catalog lacks gets the
closest names it has as a hint. Other installed packages stay at their versions, unless
a PKG needs newer versions of installed packages it depends on: those that must move are
upgraded with it, to the newest version that fits (as pacman and apt do), and the plan
shows them as NAME OLD -> NEW (a package installed again, with --reinstall, as NAME
VERSION (reinstall)).

Versions that differ only in build metadata (1.0.0, 1.0.0+a, 1.0.0+b; old catalogs may
hold them) are one version: the first the catalog lists is installed, unless PKG names
one exactly (name@1.0.0+b), which installs that build or fails naming those there are.`,
		Example: `  dist-client install hello
  dist-client install hello@1.0.0
  dist-client install 'hello@>=1.0, <2'
  dist-client install --overwrite 'bin/*' tool`,
		Args: cli.MinArgs(1, "package to install"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstall(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(catalogOnly, 0),
	}
	stallTimeoutFlag(c, &o.stallTimeout)
	c.Flags().StringArrayVar(&o.overwrite, "overwrite", nil, "replace unowned files in the prefix matching `GLOB` (relative to the prefix or absolute; a directory's glob covers what is under it; repeatable)")
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "show the plan and where each archive would come from (the trackers' seeders and peers, the publisher's seeder, a server's /packages/ over HTTP as a web seed or a last resort); exit 1 if it cannot be resolved, an archive cannot be had or the disk is too small (file conflicts are found by the install itself, once install.sh staged the files)")
	c.Flags().BoolVar(&o.json, "json", false, "print what was done (changes, bytes, the transfer report) or, with --dry-run, the probe, as JSON")
	c.Flags().BoolVar(&o.reinstall, "reinstall", false, "install again the named packages that are already installed at that version")
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask before downloading more than 100 MiB (asked only on a terminal)")
	c.Flags().BoolVar(&o.skipScript, skipScriptFlag, false, skipScriptUsage)
	return c
}

// stallTimeoutFlag is install's and upgrade's --stall-timeout (upgrade
// had none: a newcomer's run looked for it).
func stallTimeoutFlag(c *cobra.Command, d *time.Duration) {
	c.Flags().DurationVar(d, "stall-timeout", 2*time.Minute, "give up when peers and web seeds together send under 1 KiB/s for this long")
}

// checkStallTimeout refuses a --stall-timeout of 0 or less: the fetch
// reads those as its default, 2m, and a user who gave 0 for "never" got
// that without a word (a newcomer's run).
func checkStallTimeout(d time.Duration) error {
	if d <= 0 {
		return cli.Usagef("--stall-timeout %s: want a duration above 0, such as 5m", d)
	}
	return nil
}

func runInstall(ctx context.Context, e *env, o installOptions, args []string) error {
	if err := checkStallTimeout(o.stallTimeout); err != nil {
		return err
	}
	if err := refuseLocalPackage(args); err != nil {
		return err
	}
	in, err := e.placer()
	if err != nil {
		return err
	}
	in.StallTimeout = o.stallTimeout
	in.Overwrite = o.overwrite
	in.DryRun = o.dryRun
	in.Reinstall = o.reinstall
	in.SkipUninstallScript = o.skipScript
	in.Confirm = e.confirmer(o.yes || o.json)
	in.WarnExpired = true
	if o.json {
		in.UI = e.textless()
	}
	err = e.withCatalogHint(ctx, e.withDownloadHint(in.Install(ctx, args)), args)
	if o.json {
		e.printOutcome(ctx, in, err)
	}
	return err
}

// refuseLocalPackage refuses a request that is a path (pacman -U, apt
// install ./x.deb): install takes names of the synced catalog, and a
// package directory gets there by dist-server add. `install
// ./examples/hello` said that the name contains "/" and "did you mean
// hello?", which installed the catalog's hello, not the directory (a
// newcomer's run). Names and constraints never hold a "/" (a name may end
// in .tar.zst, so an archive in the working directory is left to the
// catalog's "no package named").
func refuseLocalPackage(args []string) error {
	for _, a := range args {
		if strings.ContainsRune(a, '/') {
			return cli.WithHint(cli.Usagef("%q is a path: install takes names of packages in the synced catalog, not package directories or archives", a),
				"publish a package directory with dist-server add DIR; then dist-client sync and dist-client install NAME")
		}
	}
	return nil
}

// confirmer asks questions on a terminal, unless yes; without a terminal
// nothing is asked (scripts install as they always did).
func (e *env) confirmer(yes bool) func(string) (bool, error) {
	if yes || !e.UI.InTTY {
		return nil
	}
	return e.UI.Confirm
}

// textless is a printer for a command whose stdout carries JSON: its text
// lines are dropped, its warnings still go to stderr, and so does what
// install and uninstall scripts print (unless -q), as it would on stdout
// without --json.
func (e *env) textless() *ui.Printer {
	p := ui.New(io.Discard, e.UI.Err, true)
	if !e.Quiet {
		p.Scripts = e.UI.Err
	}
	return p
}

// printOutcome prints an install's, upgrade's, uninstall's, mark's or
// hold's --json result, with the hint err carries (what stderr's "hint:"
// line says) beside its error. A command that failed before it had a
// result prints none here: cli.Run prints {"error", "hint"} for it. The
// error is in stderr's words (cli.ErrorText): "interrupted" after Ctrl-C,
// which printed "context canceled".
func (e *env) printOutcome(ctx context.Context, in *install.Client, err error) {
	var h *cli.Hinted
	hint, text := "", ""
	if errors.As(err, &h) {
		hint = h.Hint
	}
	if err != nil {
		text = cli.ErrorText(ctx, err)
	}
	switch {
	case in.DryRunResult != nil:
		e.UI.JSON(in.DryRunResult)
	case in.RemovalPlan != nil:
		if in.RemovalPlan.Error != "" {
			in.RemovalPlan.Error, in.RemovalPlan.Hint = text, hint
		}
		e.UI.JSON(in.RemovalPlan)
	case in.Last != nil:
		if in.Last.Error != "" {
			in.Last.Error, in.Last.Hint = text, hint
		}
		e.UI.JSON(in.Last)
	}
}

type uninstallOptions struct {
	cascade, yes bool
	skipScript   bool
	dryRun, json bool
}

// skipScriptFlag is the flag past a failing uninstall.sh, for uninstall,
// upgrade and install (which replaces an installed version).
const skipScriptFlag = "skip-uninstall-script"

const skipScriptUsage = "do not run the installed versions' uninstall.sh (for one that fails); their files are still removed"

func newUninstall(e *env) *cobra.Command {
	var o uninstallOptions
	c := &cobra.Command{
		Use:        "uninstall NAME...",
		Aliases:    []string{"remove"},
		SuggestFor: []string{"purge", "erase", "delete"}, // apt, pacman and dnf words
		Short:      "Remove installed packages and the files they placed",
		Long: `uninstall runs the installed version's scripts/uninstall.sh (when it has one) for extra
cleanup, then removes exactly the files, symlinks and directories the package placed,
from the prefix it was installed to (not the one configured now), and its record. A file
changed since it was installed is kept as NAME.distpac-save, with a warning. It refuses
to remove a package that another installed package depends on, naming the dependent.
With --cascade it also removes the dependencies that were installed automatically for it
and that nothing else installed needs. Several packages go as one transaction: every
uninstall.sh runs first (dependents first), then all their files go in one step. An
uninstall.sh that fails removes nothing: every package stays installed (those whose
uninstall.sh had run are installed again) and the error names them;
--skip-uninstall-script removes them without running the scripts. With --json it prints
what it removed (the changes, as install --json and history --json give them) or, with
--dry-run, what it would remove.`,
		Example: `  dist-client uninstall hello
  dist-client remove --cascade hello
  dist-client uninstall --dry-run --cascade hello
  dist-client uninstall --json hello`,
		Args: installedArgs(1, -1, "package to uninstall"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUninstall(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&o.cascade, "cascade", false, "also remove dependencies installed automatically that nothing else needs")
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "do not ask before removing packages not named (asked only on a terminal)")
	c.Flags().BoolVar(&o.skipScript, skipScriptFlag, false, skipScriptUsage)
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "say what would be uninstalled (with --cascade, the dependencies too), changing nothing; exit 1 if it would be refused")
	c.Flags().BoolVar(&o.json, "json", false, "print what was done (or, with --dry-run, what would be) as JSON")
	return c
}

func runUninstall(ctx context.Context, e *env, o uninstallOptions, args []string) error {
	in, err := e.placer()
	if err != nil {
		return err
	}
	// Not --json as well, as install and upgrade have it: the question
	// here is whether to remove packages the user did not name (a
	// review: uninstall --json --cascade removed them unasked).
	in.Confirm = e.confirmer(o.yes)
	in.SkipUninstallScript = o.skipScript
	in.DryRun = o.dryRun
	if o.json {
		in.UI = e.textless()
	}
	err = e.withInstalledHint(in.Uninstall(ctx, args, o.cascade), args)
	if o.json {
		e.printOutcome(ctx, in, err)
	}
	return err
}
