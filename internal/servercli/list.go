package servercli

import (
	"context"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/units"
)

func newList(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List published package versions",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runList(cmd.Context(), e, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func runList(ctx context.Context, e *env, asJSON bool) error {
	_, sp, err := e.config()
	if err != nil {
		return err
	}
	var pkgs []catalog.Package
	if _, err := os.Stat(sp.Catalog()); err == nil {
		db, err := catalog.Open(ctx, sp.Catalog())
		if err != nil {
			return err
		}
		defer db.Close()
		if pkgs, err = db.All(ctx); err != nil {
			return err
		}
	}
	if asJSON {
		type row struct {
			Name        string   `json:"name"`
			Version     string   `json:"version"`
			Size        int64    `json:"size"`
			InfoHash    string   `json:"infohash"`
			Description string   `json:"description,omitempty"`
			Depends     []string `json:"depends,omitempty"`
		}
		out := []row{}
		for _, p := range pkgs {
			out = append(out, row{p.Name, p.Version, p.Size, p.InfoHash, p.Description, p.Depends})
		}
		return e.UI.JSON(out)
	}
	if len(pkgs) == 0 {
		e.UI.Printf("no packages published (add some with: dist-server add PATH...)\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdio.Out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	e.UI.Dataf("")
	tw.Write([]byte("NAME\tVERSION\tSIZE\tINFOHASH\n"))
	for _, p := range pkgs {
		tw.Write([]byte(p.Name + "\t" + p.Version + "\t" + units.FormatBytes(p.Size) + "\t" + p.InfoHash + "\n"))
	}
	return nil
}
