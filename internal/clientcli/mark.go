package clientcli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

type markOptions struct{ explicit, dependency bool }

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
		Args:    cli.MinArgs(1, "package to mark"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMark(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
	c.Flags().BoolVar(&o.explicit, "explicit", false, "installed because you asked for it")
	c.Flags().BoolVar(&o.dependency, "dependency", false, "installed only as a dependency of others")
	return c
}

func runMark(ctx context.Context, e *env, o markOptions, args []string) error {
	if o.explicit == o.dependency {
		return cli.Usagef("give one of --explicit and --dependency")
	}
	in, err := e.installer()
	if err != nil {
		return err
	}
	return e.withInstalledHint(in.Mark(ctx, args, o.explicit), args)
}

func newHold(e *env, hold bool) *cobra.Command {
	use, short, long := "hold NAME...", "Keep installed packages at their versions",
		`hold keeps packages at the versions installed: upgrade leaves them (and says so), list
--upgradable and status name them apart from what upgrade would move, and an install that
would move them is refused, until dist-client unhold (apt-mark hold; pacman's IgnorePkg).`
	if !hold {
		use, short, long = "unhold NAME...", "Let upgrade move held packages again", `unhold undoes dist-client hold.`
	}
	verb, _, _ := strings.Cut(use, " ")
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  cli.MinArgs(1, "package to "+verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := e.installer()
			if err != nil {
				return err
			}
			return e.withInstalledHint(in.Hold(cmd.Context(), args, hold), args)
		},
		ValidArgsFunction: e.completeNames(installedOnly, 0),
	}
}
