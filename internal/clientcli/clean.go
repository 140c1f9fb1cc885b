package clientcli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

type cleanOptions struct{ json bool }

func newClean(e *env) *cobra.Command {
	var o cleanOptions
	c := &cobra.Command{
		Use:   "clean",
		Short: "Remove cached archives that no installed package needs",
		Long: `clean removes the cached archives of packages that are not installed, leftovers of
interrupted downloads, and packages an older dist-client kept extracted. With seed: cached
and cache_max_size, it keeps archives of packages not installed for seeding as long as
they fit in cache_max_size, the least recently used going first; archives of installed
packages are always kept. A running daemon stops seeding what clean removed.`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClean(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print what was removed as JSON")
	return c
}

func runClean(ctx context.Context, e *env, o cleanOptions, _ []string) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	n, freed, err := in.Clean(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return e.UI.JSON(struct {
			Removed int   `json:"removed"`
			Freed   int64 `json:"freed_bytes"`
		}{n, freed})
	}
	e.UI.Printf("removed %s, freed %s\n", ui.Count(n, "cached file"), units.FormatBytes(freed))
	return nil
}
