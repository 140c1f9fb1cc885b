package clientcli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/install"
)

type markOptions struct{ explicit, dependency, json bool }

func newMark(e *env) *cobra.Command {
	var o markOptions
	c := &cobra.Command{
		Use:   "mark --explicit|--dependency NAME...",
		Short: "Set why installed packages are installed",
		Long: `mark --explicit records that you want the packages (uninstall --cascade never takes them
away); mark --dependency that they are there only for others (uninstall --cascade removes
them once nothing needs them), as pacman -D --asexplicit/--asdeps and apt-mark
manual/auto do. install NAME of a package installed as a dependency marks it explicit.`,
		Example: `  dist-client mark --dependency libgreet`,
		Args:    installedArgs(1, -1, "package to mark"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMark(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&o.explicit, "explicit", false, "installed because you asked for it")
	c.Flags().BoolVar(&o.dependency, "dependency", false, "installed only as a dependency of others")
	c.Flags().BoolVar(&o.json, "json", false, markJSONUsage)
	return c
}

// markJSONUsage is mark's, hold's and unhold's --json.
const markJSONUsage = "print what changed as JSON (changes, as install --json and history --json give them)"

// runRecords runs mark, hold or unhold (change), printing with --json
// what changed as install --json does.
func runRecords(ctx context.Context, e *env, asJSON bool, args []string, change func(*install.Client) error) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	if asJSON {
		in.UI = e.textless()
	}
	err = e.withInstalledHint(change(in), args)
	if asJSON {
		e.printOutcome(ctx, in, err)
	}
	return err
}

func runMark(ctx context.Context, e *env, o markOptions, args []string) error {
	if o.explicit == o.dependency {
		return cli.Usagef("give one of --explicit and --dependency")
	}
	return runRecords(ctx, e, o.json, args, func(in *install.Client) error { return in.Mark(ctx, args, o.explicit) })
}

func newHold(e *env, hold bool) *cobra.Command {
	use, short, long := "hold NAME...", "Keep installed packages at their versions",
		`hold keeps packages at the versions installed: upgrade leaves them (and says so), list
--upgradable and status name them apart from what upgrade would move, and an install that
would move them is refused, until dist-client unhold (apt-mark hold; pacman's IgnorePkg).`
	example := "  dist-client hold hello\n  dist-client list --installed    # NOTE: held"
	if !hold {
		use, short, long = "unhold NAME...", "Let upgrade move held packages again", `unhold undoes dist-client hold.`
		example = "  dist-client unhold hello\n  dist-client upgrade hello"
	}
	verb, _, _ := strings.Cut(use, " ")
	var asJSON bool
	c := &cobra.Command{
		Use:     use,
		Short:   short,
		Long:    long,
		Example: example,
		Args:    installedArgs(1, -1, "package to "+verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecords(cmd.Context(), e, asJSON, args, func(in *install.Client) error { return in.Hold(cmd.Context(), args, hold) })
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&asJSON, "json", false, markJSONUsage)
	return c
}
