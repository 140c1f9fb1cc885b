package clientcli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/ui"
	"github.com/distpac/distpac/internal/units"
)

type cleanOptions struct{ json, dryRun bool }

func newClean(e *env) *cobra.Command {
	var o cleanOptions
	c := &cobra.Command{
		Use:   "clean",
		Short: "Remove cached archives that no installed package needs",
		Long: `clean removes the cached archives of packages that are not installed, leftovers of
interrupted downloads, and packages an older dist-client kept extracted. With seed: cached
and cache_max_size, it keeps archives of packages not installed for seeding as long as
they fit in cache_max_size, the least recently used going first; archives of installed
packages are always kept. A running daemon stops seeding what clean removed.
--dry-run lists what would go, each file with the space it takes and why, and the total,
removing nothing (apt-get clean -s, the list pacman -Sc shows). The space of an
interrupted download's .part is what it holds on disk, less than its length (the
archive's).`,
		Example: `  dist-client clean --dry-run
  dist-client clean`,
		Args: cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClean(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print what was removed (or, with --dry-run, would be) as JSON")
	c.Flags().BoolVar(&o.dryRun, "dry-run", false, "list what would be removed and how many bytes it would free, removing nothing")
	return c
}

func runClean(ctx context.Context, e *env, o cleanOptions, _ []string) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	removed, err := in.Clean(ctx, o.dryRun)
	if err != nil {
		return err
	}
	var files int
	var freed int64
	for _, r := range removed {
		files += r.Files
		freed += r.Bytes
	}
	if o.json {
		if removed == nil {
			removed = []install.Cleaned{}
		}
		return e.UI.JSON(struct {
			Removed int               `json:"removed"`
			Freed   int64             `json:"freed_bytes"`
			DryRun  bool              `json:"dry_run"`
			Files   []install.Cleaned `json:"files"`
		}{files, freed, o.dryRun, removed})
	}
	if !o.dryRun {
		e.UI.Printf("removed %s, freed %s\n", ui.Count(files, "cached file"), units.FormatBytes(freed))
		return nil
	}
	for _, r := range removed {
		size := units.FormatBytes(r.Bytes)
		if r.Length > 0 {
			size += " on disk, of " + units.FormatBytes(r.Length)
		}
		if r.Files != 1 {
			size = ui.Count(r.Files, "file") + ", " + size
		}
		e.UI.Printf("would remove %s (%s): %s\n", r.Path, size, r.Why)
	}
	e.UI.Printf("dry run: would remove %s, freeing %s; nothing removed\n", ui.Count(files, "cached file"), units.FormatBytes(freed))
	return nil
}
