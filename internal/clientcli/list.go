package clientcli

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/install"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

type listOptions struct {
	installed, upgradable, json bool
}

func newList(e *env) *cobra.Command {
	var o listOptions
	c := &cobra.Command{
		Use:   "list",
		Short: "List the catalog's packages, or with --installed what is installed",
		Long: `list shows every package version of the synced catalog (NAME, VERSION, with
[installed] beside the one installed, SIZE of its archive, DESCRIPTION), as pacman -Sl;
--installed what is installed (NAME, VERSION, REASON: explicit or dependency, when it
was INSTALLED, and a NOTE for a held package or a version the catalog no longer lists),
as pacman -Q; --upgradable what upgrade would move, as pacman -Qu. It reads local state
only: run dist-client sync first for the server's newest catalog.`,
		Example: "  dist-client list\n  dist-client list --installed\n  dist-client list --upgradable --json",
		Args:    cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.installed, "installed", false, "list installed packages: why each is there, and a note for held ones and versions the synced catalog no longer lists")
	c.Flags().BoolVar(&o.upgradable, "upgradable", false, "list what upgrade would move: installed packages that have newer versions, but the held ones, which upgrade leaves, and the kept-back ones, whose newest version cannot be had with what is installed (both named apart, with the reason; --json: only what would move)")
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runList(ctx context.Context, e *env, o listOptions, _ []string) error {
	switch {
	case o.installed && o.upgradable:
		return cli.Usagef("--installed and --upgradable do not go together")
	}
	e.warnInterrupted(ctx)
	switch {
	case o.installed:
		return listInstalled(ctx, e, o)
	case o.upgradable:
		return listUpgradable(ctx, e, o)
	}
	db, st, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	pkgs, err := db.All(ctx)
	if err != nil {
		return err
	}
	return printPackages(e, pkgs, st, o.json)
}

func listInstalled(ctx context.Context, e *env, o listOptions) error {
	db, st, err := e.open(ctx)
	if st == nil {
		return err // the installed state did not read
	}
	if err != nil && !errors.Is(err, catalogclient.ErrNoCatalog) {
		// What is installed is listed all the same: the catalog only adds
		// the note (a damaged one made the list fail: a review).
		e.UI.Warnf("%v (the versions the catalog no longer lists are not marked)\n", err)
	}
	recs := st.Sorted()
	if o.json {
		out := make([]installedJSON, 0, len(recs))
		for _, r := range recs {
			out = append(out, toInstalledJSON(r))
		}
		return e.UI.JSON(out)
	}
	if len(recs) == 0 {
		e.UI.Printf("no packages installed\n")
		return nil
	}
	// The versions the synced catalog no longer lists are marked, as
	// pacman -Qm lists foreign packages: only info said so.
	var listed map[string][]catalog.Package
	if db != nil {
		defer db.Close()
		names := make([]string, len(recs))
		for i, r := range recs {
			names[i] = r.Name
		}
		if listed, err = db.VersionsOf(ctx, names); err != nil {
			return err
		}
	}
	rows := make([][]string, 0, len(recs))
	for _, r := range recs {
		note := ""
		if r.Held {
			note = "held"
		}
		if db != nil && !slices.ContainsFunc(listed[r.Name], func(p catalog.Package) bool { return p.Version == r.Version }) {
			note = strings.TrimPrefix(note+", not in the catalog", ", ")
		}
		rows = append(rows, []string{r.Name, r.Version, reason(r), r.InstalledAt.Local().Format(time.DateTime), note})
	}
	return e.UI.Table([]string{"NAME", "VERSION", "REASON", "INSTALLED", "NOTE"}, rows)
}

// installedJSON is an installed record in list --installed --json. It is
// not state.Record's own encoding: there "size" was the installed size,
// while search, list and info give the archive's under that key, and
// false booleans were left out, so that jq 'select(.auto == false)' found
// nothing (a newcomer's findings). Every key is always present; reason is
// the text's REASON column. The record's "size" is not kept beside
// installed_size: the README never listed these keys, and a key that
// means two things is what was to be mended.
type installedJSON struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	Reason        string    `json:"reason"` // explicit or dependency
	Auto          bool      `json:"auto"`   // reason is dependency
	Held          bool      `json:"held"`
	Depends       []string  `json:"depends"`
	Conflicts     []string  `json:"conflicts"`
	Archive       string    `json:"archive"`
	SHA256        string    `json:"sha256"` // of the archive
	InstalledSize int64     `json:"installed_size"`
	Prefix        string    `json:"prefix"`
	FilesKnown    bool      `json:"files_known"`
	HasUninstall  bool      `json:"has_uninstall"`
	Untracked     []string  `json:"untracked"`
	InstalledAt   time.Time `json:"installed_at"`
}

func toInstalledJSON(r state.Record) installedJSON {
	return installedJSON{Name: r.Name, Version: r.Version, Reason: reason(r), Auto: r.Auto, Held: r.Held,
		Depends: list(r.Depends), Conflicts: list(r.Conflicts), Archive: r.Archive, SHA256: r.SHA256,
		InstalledSize: r.Size, Prefix: r.Prefix, FilesKnown: r.FilesKnown, HasUninstall: r.HasUninstall,
		Untracked: list(r.Untracked), InstalledAt: r.InstalledAt}
}

// reason says why a package is installed, in pacman's words.
func reason(r state.Record) string {
	if r.Auto {
		return "dependency"
	}
	return "explicit"
}

func listUpgradable(ctx context.Context, e *env, o listOptions) error {
	in, err := e.installer()
	if err != nil {
		return err
	}
	moves, held, kept, err := in.Upgradable(ctx)
	if err != nil {
		return err
	}
	rows := upgradableRows(moves)
	if o.json {
		return e.UI.JSON(rows)
	}
	// As upgrade names them: the held ones first, then the kept-back
	// ones, and no "up to date" when there are any; but in a listing's
	// words ("held:", not upgrade's "held, not upgraded:").
	if len(held) > 0 {
		e.UI.Printf("held: %s\n", install.HeldList(held))
	}
	for _, k := range kept {
		e.UI.Printf("kept back: %s\n", k)
	}
	switch {
	case len(rows) == 0 && (len(held) > 0 || len(kept) > 0):
		e.UI.Printf("nothing else to upgrade (as of the last dist-client sync)\n")
		return nil
	case len(rows) == 0:
		e.UI.Printf("everything is up to date (as of the last dist-client sync)\n")
		return nil
	}
	cells := make([][]string, 0, len(rows))
	for _, r := range rows {
		cells = append(cells, []string{r.Name, r.Installed, r.Available})
	}
	return e.UI.Table([]string{"NAME", "INSTALLED", "AVAILABLE"}, cells)
}

// upgradableJSON is one move of an installed package, in list --upgradable
// and status.
type upgradableJSON struct {
	Name      string `json:"name"`
	Installed string `json:"installed"`
	Available string `json:"available"`
}

// upgradableRows are steps as JSON rows: [] for none.
func upgradableRows(steps []resolve.Step) []upgradableJSON {
	rows := []upgradableJSON{}
	for _, s := range steps {
		rows = append(rows, upgradableJSON{s.Name, s.From.String(), s.Version.String()})
	}
	return rows
}

// pkgJSON is the --json form of a package: a catalog row with what is
// installed of it, or (in_catalog false) an installed record the catalog
// no longer lists.
type pkgJSON struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Description string `json:"description,omitempty"`
	License     string `json:"license,omitempty"`
	Homepage    string `json:"homepage,omitempty"`
	// Size is the archive's; null for an installed record the catalog
	// lacks, which keeps the installed size only (it gave that as size).
	Size          *int64    `json:"size"`
	InstalledSize int64     `json:"installed_size"`
	Depends       []string  `json:"depends"`   // [] for none, as conflicts and required_by
	Conflicts     []string  `json:"conflicts"` // (a key that comes and goes is harder to script)
	SHA256        string    `json:"sha256"`
	InfoHash      string    `json:"infohash,omitempty"`
	Magnet        string    `json:"magnet,omitempty"`
	Published     time.Time `json:"published,omitzero"`
	InCatalog     bool      `json:"in_catalog"`
	Installed     string    `json:"installed,omitempty"` // installed version, if any
	InstalledAt   time.Time `json:"installed_at,omitzero"`
	Reason        string    `json:"reason,omitempty"` // explicit or dependency, when installed
	RequiredBy    []string  `json:"required_by"`
}

func toJSON(p catalog.Package, st *state.State) pkgJSON {
	j := pkgJSON{Name: p.Name, Version: p.Version, Description: p.Description, License: p.License, Homepage: p.Homepage,
		Size: &p.Size, InstalledSize: p.InstalledSize, Depends: list(p.Depends), Conflicts: list(p.Conflicts),
		SHA256: p.SHA256, InfoHash: p.InfoHash, Magnet: p.Magnet, Published: p.Published, InCatalog: true, RequiredBy: []string{}}
	if r, ok := st.Get(p.Name); ok {
		addInstalled(&j, r, st)
	}
	return j
}

// recordJSON is the --json form of an installed record the catalog lacks.
func recordJSON(r state.Record, st *state.State) pkgJSON {
	j := pkgJSON{Name: r.Name, Version: r.Version, InstalledSize: r.Size, Depends: list(r.Depends), Conflicts: list(r.Conflicts), SHA256: r.SHA256}
	addInstalled(&j, r, st)
	return j
}

func addInstalled(j *pkgJSON, r state.Record, st *state.State) {
	j.Installed, j.InstalledAt, j.Reason = r.Version, r.InstalledAt, reason(r)
	j.RequiredBy = list(requiredBy(st, r.Name))
}

// list is xs, or an empty list for nil (JSON [] rather than null).
func list(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
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
	rows := make([][]string, 0, len(pkgs))
	for _, p := range pkgs {
		v := p.Version
		if r, ok := st.Get(p.Name); ok && r.Version == p.Version {
			v += " [installed]"
		}
		rows = append(rows, []string{p.Name, v, units.FormatBytes(p.Size), p.Description})
	}
	return e.UI.Table([]string{"NAME", "VERSION", "SIZE", "DESCRIPTION"}, rows)
}
