package clientcli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/install"
)

type recoverOptions struct{ json bool }

func newRecover(e *env) *cobra.Command {
	var o recoverOptions
	c := &cobra.Command{
		Use:   "recover",
		Short: "Finish or undo a change an interrupted dist-client left",
		Long: `recover finishes or undoes the change of a dist-client that was killed (kill -9, a
crash, a power cut) in the middle of an install, upgrade or uninstall, and nothing
else, as dpkg --configure -a does: a change whose records were committed is finished,
one whose records were not is rolled back, files and records as they were before it.
It says which command's change it was and the packages and versions it made or undid,
and removes the staging directories killed dist-clients left (a kill while install.sh
ran leaves one), naming them. A change killed while a package's install.sh ran (or
after it) is undone as Ctrl-C undoes it: that package's uninstall.sh runs, from its
archive in the cache, and the version an upgrade or uninstall had taken down with its
uninstall.sh is installed again; a script still running in its own process group is
killed when it is verifiably that script's, else named; a cleanup that cannot run
is said, with what it leaves. list, status, verify, files and owner say when a change
is pending; every install, upgrade, uninstall, mark and hold also does this first.
With nothing pending it says so and changes nothing.`,
		Example: `  dist-client recover
  dist-client recover --json`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecover(cmd.Context(), e, o) },
	}
	c.Flags().BoolVar(&o.json, "json", false, "print what was recovered as JSON (result, command, changes as install --json gives them, interrupted, staging_removed, scripts: those that apply; with nothing pending, only an empty changes)")
	return c
}

func runRecover(ctx context.Context, e *env, o recoverOptions) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	rec, err := in.Recover(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return e.UI.JSON(rec)
	}
	if !rec.Pending() {
		e.UI.Printf("nothing to recover: no change was interrupted\n")
		return nil
	}
	// What it finished or undid, as history names changes: it said only
	// "finished cleaning up after an interrupted dist-client", on stderr,
	// naming no package (a newcomer's run).
	who := "an interrupted dist-client"
	if rec.Command != "" {
		who = "the interrupted `dist-client " + rec.Command + "`"
	}
	switch rec.Result {
	case install.RecoveryFinished:
		what := ""
		if len(rec.Changes) > 0 {
			what = ": " + describeChanges(rec.Changes)
		}
		e.UI.Printf("finished the change of %s (it was committed)%s\n", who, what)
	case install.RecoveryRolledBack:
		what := ""
		if len(rec.Changes) > 0 {
			what = ": " + describeChanges(rec.Changes) + " undone"
		}
		if len(rec.Changes) == 0 && len(rec.Scripts) > 0 {
			// Killed in a script, before any file moved: the lines below
			// say what its scripts left, never "before it changed
			// anything" (a newcomer's run).
			e.UI.Printf("rolled back the change of %s, killed while a script ran, before any file moved; records and the prefix's files are as before it\n", who)
		} else {
			e.UI.Printf("rolled back the change of %s%s; files and records are as before it\n", who, what)
		}
	}
	for _, s := range rec.Scripts {
		e.UI.Printf("%s\n", s.Said)
	}
	for _, c := range rec.Interrupted {
		e.UI.Printf("`dist-client %s` was interrupted before it changed anything (history shows it interrupted)\n", c)
	}
	if len(rec.Removed) > 0 {
		what := "the staging directory"
		if len(rec.Removed) > 1 {
			what = "the staging directories"
		}
		e.UI.Printf("removed %s an interrupted dist-client left: %s\n", what, strings.Join(rec.Removed, ", "))
	}
	return nil
}
