package clientcli

import (
	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

func newRecover(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "recover",
		Short: "Finish or undo a change an interrupted dist-client left",
		Long: `recover finishes or undoes the change of a dist-client that was killed (kill -9, a
crash, a power cut) in the middle of an install, upgrade or uninstall, and nothing
else, as dpkg --configure -a does: a change whose records were committed is finished,
one whose records were not is rolled back, files and records as they were before it.
list, status, verify, files and owner say when one is pending; every install,
upgrade, uninstall, mark and hold also does this first. With nothing pending it says
so and changes nothing.`,
		Example: `  dist-client recover`,
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, err := e.installer()
			if err != nil {
				return err
			}
			pending, err := in.Recover(cmd.Context())
			if err != nil {
				return err
			}
			if !pending {
				e.UI.Printf("nothing to recover: no change was interrupted\n")
			}
			return nil
		},
	}
}
