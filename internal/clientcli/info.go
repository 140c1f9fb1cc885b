package clientcli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/resolve"
	"github.com/distpac/distpac/internal/state"
	"github.com/distpac/distpac/internal/units"
)

type infoOptions struct{ json bool }

func newInfo(e *env) *cobra.Command {
	var o infoOptions
	c := &cobra.Command{
		Use:        "info NAME[@VERSION]",
		SuggestFor: []string{"show"}, // apt, pacman and dnf words
		Short:      "Show every field of a package version (the newest by default)",
		Long: `info shows a package version from the synced catalog (the newest stable one, or the
newest that matches @VERSION or @<constraint>) and what is installed of it: the version
install would pick for the same argument. For an installed package the catalog no longer
lists (withdrawn by the publisher), it shows the installed record instead, with the
description, license and homepage from the manifest in the package's cached archive.`,
		Example: `  dist-client info hello
  dist-client info 'hello@<2' --json`,
		Args: cli.ExactArgs(1, "package name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInfo(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completeNames(catalogAndInstalled, 1),
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runInfo(ctx context.Context, e *env, o infoOptions, args []string) error {
	req, err := manifest.ParseRequest(args[0])
	if err != nil {
		return cli.Usagef("%v", err) // it names the request
	}
	db, st, err := e.open(ctx)
	if err != nil && !errors.Is(err, catalogclient.ErrNoCatalog) {
		return err
	}
	var p catalog.Package
	if db != nil {
		defer db.Close()
		p, err = pickVersion(ctx, db, req)
	}
	if err != nil {
		// The catalog has nothing that matches; the installed record may
		// (a version withdrawn since it was installed).
		r, installed := st.Get(req.Name)
		if installed && (req.Constraint == nil || allows(req, r.Version)) {
			return printRecord(e, o, r, st)
		}
		if installed && errors.Is(err, errNoSuchName) {
			return cli.WithHint(noSuchPackage(req.Name), withSyncedNote(fmt.Sprintf("%s %s is installed: dist-client info %s shows its record", r.Name, r.Version, r.Name), syncedNote(e.syncedAt(ctx), time.Now())))
		}
		if errors.Is(err, errNoSuchName) {
			return e.withCatalogHint(ctx, noSuchPackage(req.Name), args)
		}
		return e.withCatalogHint(ctx, err, args)
	}
	j := toJSON(p, st)
	if o.json {
		return e.UI.JSON(j)
	}
	installed := "no"
	switch {
	case j.Installed == p.Version:
		installed = j.Installed
	case j.Installed != "":
		installed = j.Installed + " (not this version)"
	}
	fields := [][2]string{
		{"Name", p.Name}, {"Version", p.Version}, {"Description", orNone(p.Description)},
		{"License", orNone(p.License)}, {"Homepage", orNone(p.Homepage)},
		{"Download size", units.FormatBytes(p.Size)}, {"Installed size", units.FormatBytes(p.InstalledSize)},
		{"Depends on", none(p.Depends)}, {"Conflicts with", none(p.Conflicts)},
		{"Installed", installed},
	}
	if j.Installed != "" {
		fields = append(fields, [2]string{"Install reason", j.Reason})
	}
	return e.UI.Fields(append(fields, [][2]string{
		{"Required by", none(j.RequiredBy)},
		{"SHA-256", p.SHA256}, {"Infohash", p.InfoHash}, {"Published", p.Published.Local().Format(time.DateTime)},
	}...))
}

// printRecord shows an installed package the catalog does not list: what
// its record kept, the description, license and homepage from the
// manifest in its cached archive (the record does not keep them), and why
// the catalog fields are missing.
func printRecord(e *env, o infoOptions, r state.Record, st *state.State) error {
	j := recordJSON(r, st)
	m, err := e.archiveManifest(r)
	if err != nil {
		e.Logger.Debug("no description, license or homepage for an installed package the catalog lacks", "package", r.Name, "err", err)
	} else {
		j.Description, j.License, j.Homepage = m.Description, m.License, m.Homepage
	}
	if o.json {
		return e.UI.JSON(j)
	}
	text := func(s string) string {
		if err != nil {
			return "unknown" // the description says why
		}
		return orNone(s)
	}
	desc := text(m.Description)
	if err != nil {
		desc = "unknown: " + err.Error()
	}
	return e.UI.Fields([][2]string{
		{"Name", r.Name}, {"Version", r.Version}, {"Description", desc},
		{"License", text(m.License)}, {"Homepage", text(m.Homepage)},
		{"Installed size", units.FormatBytes(r.Size)}, // the record keeps the installed size the catalog declared
		{"Depends on", none(r.Depends)}, {"Conflicts with", none(r.Conflicts)},
		{"Installed", r.Version + " on " + r.InstalledAt.Local().Format(time.DateTime)},
		{"Install reason", j.Reason}, {"Required by", none(j.RequiredBy)},
		{"SHA-256", r.SHA256},
		{"Catalog", "not in the synced catalog (withdrawn by the publisher, or not synced yet); this is the installed record"},
	})
}

// archiveManifest reads the manifest in the cached archive of an installed
// package, where the description, license and homepage of a version the
// catalog no longer lists are still known: the installed record keeps
// none of them, and info of a withdrawn version lacked them (a newcomer's
// run). The archive of an installed package stays in the cache (clean
// keeps it). Its manifest follows assets/ in the tar (entries are sorted),
// so the read decompresses the whole payload, for a package the catalog
// no longer lists only: 22-46 ms for 256 MiB of tar (half random bytes,
// half repeated text; a 64 MiB archive) on the 2-core development machine,
// slower for payloads that compress less trivially. The cache is
// checked as the installed state is (safedir), and the manifest must name
// the record's package and version.
func (e *env) archiveManifest(r state.Record) (m *manifest.Manifest, err error) {
	_, cp, err := e.config()
	if err != nil {
		return &manifest.Manifest{}, err
	}
	path := filepath.Join(cp.Cache(), r.Archive) // a record's archive is NAME-VERSION.tar.zst (state validates it)
	defer func() {
		if err != nil {
			m, err = &manifest.Manifest{}, fmt.Errorf("not recorded, and the cached archive cannot tell: %w", err)
		}
	}()
	f, err := fsutil.OpenRegular(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is gone", path)
	}
	if err != nil {
		return nil, err // it names the path
	}
	defer f.Close()
	data, err := archive.ReadFile(f, "manifest.yaml", manifest.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	// The record's name stands for the directory's: a manifest may leave
	// its name out (the examples do), and the archive keeps it as written
	// (an attacker's run: info of a withdrawn hello said "field name: is
	// required").
	m, err = manifest.Parse(data, path+": manifest.yaml", r.Name)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(m.Name, r.Name) || m.Version.Original() != r.Version {
		return nil, fmt.Errorf("%s: its manifest is %s %s, not %s %s", path, m.Name, m.Version.Original(), r.Name, r.Version)
	}
	return m, nil
}

// orNone is s, or "none" for an empty field, as the lists say it.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func none(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// errNoSuchName: the catalog has no version of the name at all.
var errNoSuchName = errors.New("no such package")

// noMatch: the catalog has versions of the name, none of them the one
// asked for (resolve.Explanation.Unmatched for install), most often one
// published after the last sync.
type noMatch struct{ phrase string }

func (e noMatch) Error() string { return e.phrase }

// pickVersion finds the version of req.Name in the catalog that install
// would pick for req (pickRow).
func pickVersion(ctx context.Context, db *catalog.DB, req manifest.Dependency) (catalog.Package, error) {
	rows, err := db.Versions(ctx, req.Name)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Package{}, errNoSuchName
	}
	if err != nil {
		return catalog.Package{}, err
	}
	return pickRow(rows, req)
}

// pickRow picks from rows (one name's, in the catalog's order: ascending
// precedence, then text) the newest version matching req: the newest stable
// one for a bare name (the newest of all when there is no stable one), else
// the newest the constraint allows. Of versions that differ only in build
// metadata (old catalogs may hold 1.0.0, 1.0.0+a and 1.0.0+b), the first,
// as the resolver keeps it, unless req names a build.
func pickRow(rows []catalog.Package, req manifest.Dependency) (catalog.Package, error) {
	var best, fallback *catalog.Package
	var builds []string // what an exact request's build could have been
	for i := range rows {
		v, err := manifest.ParseVersion(rows[i].Version)
		if err != nil {
			continue
		}
		if req.Allows(v) && newer(rows[i].Version, best) {
			best = &rows[i]
		}
		if req.Constraint == nil && newer(rows[i].Version, fallback) {
			fallback = &rows[i]
		}
		if req.Build != "" && req.Constraint.Check(v) {
			builds = append(builds, rows[i].Version)
		}
	}
	if best == nil {
		best = fallback
	}
	switch {
	case best != nil:
		return *best, nil
	case len(builds) > 0:
		return catalog.Package{}, fmt.Errorf("no version of %s is exactly %s (build metadata must match; there are %s)",
			req.Name, strings.TrimPrefix(req.Raw, "="), strings.Join(builds, ", "))
	}
	vs := make([]string, len(rows))
	for i, r := range rows {
		vs[i] = r.Version
	}
	return catalog.Package{}, fmt.Errorf("%w %s", noMatch{resolve.NoMatch(req.Name, req.Raw)}, resolve.Available(vs)) // as install says it
}

// newer reports whether version has a higher precedence than row's (true
// when there is no row).
func newer(version string, row *catalog.Package) bool {
	if row == nil {
		return true
	}
	v, err := manifest.ParseVersion(version)
	rv, rerr := manifest.ParseVersion(row.Version)
	return err == nil && (rerr != nil || v.GreaterThan(rv))
}

func allows(req manifest.Dependency, version string) bool {
	v, err := manifest.ParseVersion(version)
	return err == nil && req.Allows(v)
}
