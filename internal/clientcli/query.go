package clientcli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

// pkgJSON is the --json form of a catalog row.
type pkgJSON struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Description   string    `json:"description,omitempty"`
	License       string    `json:"license,omitempty"`
	Homepage      string    `json:"homepage,omitempty"`
	Size          int64     `json:"size"`
	InstalledSize int64     `json:"installed_size"`
	Depends       []string  `json:"depends,omitempty"`
	Conflicts     []string  `json:"conflicts,omitempty"`
	SHA256        string    `json:"sha256"`
	InfoHash      string    `json:"infohash"`
	Magnet        string    `json:"magnet"`
	Published     time.Time `json:"published"`
	Installed     string    `json:"installed,omitempty"` // installed version, if any
	RequiredBy    []string  `json:"required_by,omitempty"`
}

func toJSON(p catalog.Package, st *state.State) pkgJSON {
	j := pkgJSON{Name: p.Name, Version: p.Version, Description: p.Description, License: p.License, Homepage: p.Homepage,
		Size: p.Size, InstalledSize: p.InstalledSize, Depends: p.Depends, Conflicts: p.Conflicts,
		SHA256: p.SHA256, InfoHash: p.InfoHash, Magnet: p.Magnet, Published: p.Published}
	if r, ok := st.Get(p.Name); ok {
		j.Installed = r.Version
		j.RequiredBy = requiredBy(st, r.Name)
	}
	return j
}

// requiredBy lists installed packages that depend on name.
func requiredBy(st *state.State, name string) []string {
	var out []string
	for _, r := range st.Sorted() {
		for _, d := range r.Depends {
			if dep, err := manifest.ParseDependency(d); err == nil && strings.EqualFold(dep.Name, name) {
				out = append(out, r.Name)
			}
		}
	}
	return out
}

// open gives the catalog and the installed state.
func (e *env) open(ctx context.Context) (*catalog.DB, *state.State, error) {
	_, cp, err := e.config()
	if err != nil {
		return nil, nil, err
	}
	st, err := state.Load(cp.Installed())
	if err != nil {
		return nil, nil, err
	}
	db, err := catalogclient.Open(ctx, cp.Dir)
	if errors.Is(err, catalogclient.ErrNoCatalog) {
		return nil, st, err
	}
	return db, st, err
}

func newList(e *env) *cobra.Command {
	var installed, upgradable, asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List the catalog's packages, or with --installed what is installed",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if installed && upgradable {
				return cli.Usagef("--installed and --upgradable do not go together")
			}
			if installed {
				return listInstalled(e, asJSON)
			}
			if upgradable {
				return listUpgradable(cmd.Context(), e, asJSON)
			}
			db, st, err := e.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			pkgs, err := db.All(cmd.Context())
			if err != nil {
				return err
			}
			return printPackages(e, pkgs, st, asJSON)
		},
	}
	c.Flags().BoolVar(&installed, "installed", false, "list installed packages")
	c.Flags().BoolVar(&upgradable, "upgradable", false, "list installed packages that have newer versions")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func listInstalled(e *env, asJSON bool) error {
	_, cp, err := e.config()
	if err != nil {
		return err
	}
	st, err := state.Load(cp.Installed())
	if err != nil {
		return err
	}
	recs := st.Sorted()
	if asJSON {
		if recs == nil {
			recs = []state.Record{}
		}
		return e.UI.JSON(recs)
	}
	if len(recs) == 0 {
		e.UI.Printf("no packages installed\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdio.Out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "NAME\tVERSION\tREASON\tINSTALLED\n")
	for _, r := range recs {
		reason := "explicit"
		if r.Auto {
			reason = "dependency"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, r.Version, reason, r.InstalledAt.Local().Format(time.DateTime))
	}
	return nil
}

func printPackages(e *env, pkgs []catalog.Package, st *state.State, asJSON bool) error {
	if asJSON {
		out := []pkgJSON{}
		for _, p := range pkgs {
			out = append(out, toJSON(p, st))
		}
		return e.UI.JSON(out)
	}
	if len(pkgs) == 0 {
		e.UI.Printf("no packages found\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdio.Out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "NAME\tVERSION\tSIZE\tDESCRIPTION\n")
	for _, p := range pkgs {
		v := p.Version
		if r, ok := st.Get(p.Name); ok && r.Version == p.Version {
			v += " [installed]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, v, units.FormatBytes(p.Size), p.Description)
	}
	return nil
}

func newSearch(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "search TERM",
		Short: "Find packages whose name or description contains TERM",
		Args:  cli.ExactArgs(1, "a search term"),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, st, err := e.open(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			pkgs, err := db.Search(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printPackages(e, pkgs, st, asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func newInfo(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "info NAME[@VERSION]",
		Short: "Show every field of a package version (the newest by default)",
		Args:  cli.ExactArgs(1, "a package name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, st, err := e.open(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			p, err := pickVersion(ctx, db, args[0])
			if err != nil {
				return err
			}
			j := toJSON(p, st)
			if asJSON {
				return e.UI.JSON(j)
			}
			none := func(xs []string) string {
				if len(xs) == 0 {
					return "none"
				}
				return strings.Join(xs, ", ")
			}
			installed := "no"
			switch {
			case j.Installed == p.Version:
				installed = j.Installed
			case j.Installed != "":
				installed = j.Installed + " (not this version)"
			}
			tw := tabwriter.NewWriter(e.stdio.Out, 0, 4, 1, ' ', 0)
			defer tw.Flush()
			for _, kv := range [][2]string{
				{"Name", p.Name}, {"Version", p.Version}, {"Description", p.Description},
				{"License", p.License}, {"Homepage", p.Homepage},
				{"Download size", units.FormatBytes(p.Size)}, {"Installed size", units.FormatBytes(p.InstalledSize)},
				{"Depends on", none(p.Depends)}, {"Conflicts with", none(p.Conflicts)},
				{"Installed", installed}, {"Required by", none(j.RequiredBy)},
				{"SHA-256", p.SHA256}, {"Infohash", p.InfoHash}, {"Published", p.Published.Local().Format(time.DateTime)},
			} {
				fmt.Fprintf(tw, "%s\t: %s\n", kv[0], kv[1])
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// pickVersion finds NAME (newest stable, else newest) or NAME@VERSION or
// NAME@<constraint> (newest matching).
func pickVersion(ctx context.Context, db *catalog.DB, arg string) (catalog.Package, error) {
	req, err := manifest.ParseRequest(arg)
	if err != nil {
		return catalog.Package{}, cli.Usagef("argument %q: %v", arg, err)
	}
	rows, err := db.Versions(ctx, req.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Package{}, cli.WithHint(fmt.Errorf("no package named %q in the catalog", req.Name), "dist-client search TERM finds packages")
	}
	if err != nil {
		return catalog.Package{}, err
	}
	var best *catalog.Package
	var fallback *catalog.Package
	for i := range rows {
		v, err := manifest.ParseVersion(rows[i].Version)
		if err != nil {
			continue
		}
		if req.Allows(v) {
			best = &rows[i] // rows are in ascending version order
		}
		if req.Constraint == nil {
			fallback = &rows[i]
		}
	}
	if best == nil {
		best = fallback
	}
	if best == nil {
		return catalog.Package{}, fmt.Errorf("no version of %s matches %s", req.Name, req.Raw)
	}
	return *best, nil
}

func listUpgradable(ctx context.Context, e *env, asJSON bool) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	steps, err := in.Upgradable(ctx)
	if errors.Is(err, catalogclient.ErrNoCatalog) {
		return err
	}
	if err != nil {
		return err
	}
	type row struct {
		Name      string `json:"name"`
		Installed string `json:"installed"`
		Available string `json:"available"`
	}
	rows := []row{}
	for _, s := range steps {
		rows = append(rows, row{s.Name, s.From.String(), s.Version.String()})
	}
	if asJSON {
		return e.UI.JSON(rows)
	}
	if len(rows) == 0 {
		e.UI.Printf("everything is up to date (as of the last dist-client sync)\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdio.Out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "NAME\tINSTALLED\tAVAILABLE\n")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Installed, r.Available)
	}
	return nil
}
