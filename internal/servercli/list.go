package servercli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/units"
)

type listOptions struct{ json bool }

func newList(e *env) *cobra.Command {
	var o listOptions
	c := &cobra.Command{
		Use:   "list",
		Short: "List published package versions (a mirror's: those it serves)",
		Long: `list shows each package version in the catalog the server publishes (NAME, VERSION,
SIZE of its archive, INFOHASH of its torrent), from catalog.db; on a mirror, those of
the catalog it serves. It changes nothing, and works with the server stopped.`,
		Example: "  dist-server list\n  dist-server list --json",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runList(ctx context.Context, e *env, o listOptions, _ []string) error {
	_, sp, err := e.inspect("list", "publish packages with dist-server add PATH...")
	if err != nil {
		return err
	}
	var pkgs []catalog.Package
	db, err := openWorking(ctx, sp)
	if err != nil {
		return err
	}
	mirrored := false
	if db == nil && isMirrorHome(sp) {
		// A mirror publishes nothing of its own: list what it serves.
		if db, err = catalogclient.Open(ctx, sp.MirrorCatalog()); errors.Is(err, catalogclient.ErrNoCatalog) {
			db, err = nil, nil
		} else if err != nil {
			return err
		}
		mirrored = true
	}
	if db != nil {
		defer db.Close()
		if pkgs, err = db.All(ctx); err != nil {
			return err
		}
	}
	if o.json {
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
	switch {
	case mirrored && len(pkgs) == 0:
		e.UI.Printf("this data home is a mirror's and holds no catalog of its primary yet\n")
		return nil
	case len(pkgs) == 0:
		e.UI.Printf("no packages published (add some with: dist-server add PATH...)\n")
		return nil
	case mirrored:
		e.UI.Warnf("this data home is a mirror's: these are the primary's packages it serves (%s)\n", sp.MirrorCatalog())
	}
	rows := make([][]string, 0, len(pkgs))
	for _, p := range pkgs {
		rows = append(rows, []string{p.Name, p.Version, units.FormatBytes(p.Size), p.InfoHash})
	}
	return e.UI.Table([]string{"NAME", "VERSION", "SIZE", "INFOHASH"}, rows)
}
