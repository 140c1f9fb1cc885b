package clientcli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/units"
)

func newUpgrade(e *env) *cobra.Command {
	var dryRun bool
	var overwrite []string
	c := &cobra.Command{
		Use:   "upgrade [NAME...]",
		Short: "Move installed packages to the newest versions allowed",
		Long: `upgrade plans the move of the named installed packages (all of them without
arguments) to the newest versions that satisfy every constraint, shows the plan and the
download size, downloads everything first, then for each package runs the old version's
uninstall.sh and stages the new version (its install.sh into $DISTPAC_DESTDIR). The new
files then replace the old ones in one step, and files the new version no longer ships
are removed. If anything fails before that step, the old versions are restored and the
state is as before. Run dist-client sync first to see new versions.`,
		Example: `  dist-client sync && dist-client upgrade
  dist-client upgrade --dry-run hello`,
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := e.installer()
			if err != nil {
				return err
			}
			in.Overwrite = overwrite
			err = in.Upgrade(cmd.Context(), args, dryRun)
			if errors.Is(err, catalogclient.ErrNoCatalog) {
				return err
			}
			return err
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the plan only")
	c.Flags().StringArrayVar(&overwrite, "overwrite", nil, "replace unowned files in the prefix matching `GLOB` (repeatable)")
	return c
}

func newClean(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "clean",
		Short: "Remove cached archives that no installed package needs",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := e.installer()
			if err != nil {
				return err
			}
			n, freed, err := in.Clean(cmd.Context())
			if err != nil {
				return err
			}
			e.UI.Printf("removed %d cached files, freed %s\n", n, units.FormatBytes(freed))
			return nil
		},
	}
}
