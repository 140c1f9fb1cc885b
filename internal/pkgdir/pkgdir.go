// Package pkgdir reads a package directory (DESIGN.md §3) and checks all of
// it before anything is published: the manifest, the required layout and
// every file that will go into the archive.
package pkgdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/fsutil"
	"github.com/distpac/distpac/internal/manifest"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/suggest"
)

// Package is a checked package directory.
type Package struct {
	Dir      string
	Manifest *manifest.Manifest
	// Entries are what the archive will hold: manifest.yaml, assets/ and
	// scripts/, sorted. Anything else at the top level is left out (Load
	// warns of it, or refuses a near miss of assets/ or scripts/).
	Entries []archive.Entry
	// Warnings are what is likely a mistake but publishes all the same:
	// a file in scripts/ that is not one of the scripts run, a script not
	// checked for want of a shell, a top-level entry left out.
	Warnings []string
}

// ID is NAME-VERSION, the stem of the archive's file name.
func (p *Package) ID() string { return p.Manifest.Name + "-" + p.Manifest.Version.String() }

// ArchiveName is NAME-VERSION.tar.zst.
func (p *Package) ArchiveName() string { return p.ID() + ".tar.zst" }

// Load reads and checks the package at dir. Errors name the path and what
// is wrong: every problem Load finds, not the first (a manifest's mistakes,
// the layout, the scripts and every file the archive would hold), so that
// a publisher fixes them in one round, at most archive.MaxProblems listed
// one a line and the rest counted.
func Load(dir string) (*Package, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory (a package is a directory with manifest.yaml, assets/ and optionally scripts/)", dir)
	}
	problems := &archive.Problems{Dir: dir}
	m, err := loadManifest(dir)
	if errors.Is(err, errHoldsPackages) {
		return nil, err // not a package: its layout is no news
	}
	if err != nil {
		problems.Add(err)
	}
	if err := requireDir(dir, "assets"); err != nil {
		problems.Add(err)
	}
	leftOut, err := unknownEntries(dir)
	if err != nil {
		problems.Add(err)
	}
	all, scanErr := archive.Scan(dir, layout...)
	warnings, bad := checkScripts(dir, all)
	for _, err := range bad {
		problems.Add(err)
	}
	warnings = append(warnings, otherScripts(dir)...)
	warnings = append(warnings, leftOut...)
	if scanErr != nil {
		ps := archive.AsProblems(scanErr)
		for _, e := range ps.Errs {
			problems.Add(fmt.Errorf("%s: %w", dir, e))
		}
		problems.More += ps.More
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return &Package{Dir: dir, Manifest: m, Entries: all, Warnings: warnings}, nil
}

// loadManifest reads and parses dir's manifest.yaml. Without one, when
// subdirectories of dir have one, the error matches errHoldsPackages.
func loadManifest(dir string) (*manifest.Manifest, error) {
	mpath := filepath.Join(dir, "manifest.yaml")
	data, err := readManifest(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		if hint := holdsPackages(dir); hint != "" {
			return nil, &holdsError{hint}
		}
		return nil, fmt.Errorf("%s: missing (%s)", mpath, nearMiss(dir, "manifest.yaml", "every package needs a manifest.yaml with at least a version"))
	}
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return manifest.Parse(data, mpath, filepath.Base(abs))
}

// holdsError is holdsPackages' hint as an error.
type holdsError struct{ hint string }

func (e *holdsError) Error() string        { return e.hint }
func (e *holdsError) Is(target error) bool { return target == errHoldsPackages }

// errHoldsPackages marks a directory given in place of the package
// directories it holds.
var errHoldsPackages = errors.New("holds package directories")

// checkScripts checks scripts/ and the scripts in it, of the entries
// Scan passed. Scripts are optional (DESIGN.md §3): without install.sh the
// client installs assets/ as the tree; distpac removes what it placed, so
// uninstall.sh is only for extra cleanup. When present they are files that
// parse. A script Scan refused (a FIFO, a symlink out of the package) is
// Scan's to name: it was named twice, once here as not a regular file.
func checkScripts(dir string, scanned []archive.Entry) (warnings []string, problems []error) {
	if st, err := os.Lstat(filepath.Join(dir, "scripts")); err == nil && !st.IsDir() {
		return nil, []error{fmt.Errorf("%s: not a directory", filepath.Join(dir, "scripts"))}
	}
	for _, name := range script.Names {
		i, found := slices.BinarySearchFunc(scanned, "scripts/"+name, func(e archive.Entry, p string) int { return strings.Compare(e.Path, p) })
		if !found {
			continue // missing, or refused by Scan
		}
		path := filepath.Join(dir, "scripts", name)
		if mode := scanned[i].Mode; !mode.IsRegular() {
			problems = append(problems, fmt.Errorf("%s: not a regular file (%s)", path, archive.DescribeMode(mode)))
			continue
		}
		switch err := script.Check(path); {
		case errors.Is(err, script.ErrNoShell):
			warnings = append(warnings, fmt.Sprintf("%s: not checked for syntax errors: %v", path, err))
		case err != nil:
			problems = append(problems, fmt.Errorf("%s: %w", path, err))
		}
	}
	return warnings, problems
}

// layout is what the archive holds of a package directory (DESIGN.md §4).
var layout = []string{"manifest.yaml", "assets", "scripts"}

// unknownEntries names the top-level entries of dir that the archive
// leaves out, as warnings (README.md, .git). A near miss of assets/ or
// scripts/ (script/, Assets/) is refused instead: a publisher who
// misspelt scripts/ shipped a package without its scripts, and was never
// told, as a manifest's unknown key would be (DESIGN.md §3: typos must not
// pass silently).
func unknownEntries(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, unwrapPath(err))
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	const leftOut = "not shipped: the archive holds only manifest.yaml, assets/ and scripts/"
	var warnings []string
	for _, name := range names {
		if slices.Contains(layout, name) {
			continue
		}
		path := filepath.Join(dir, name)
		switch known := suggest.Typo(name, layout); known {
		case "":
			warnings = append(warnings, path+": "+leftOut)
		case "manifest.yaml":
			// Load read manifest.yaml: this one is a leftover or a copy.
			warnings = append(warnings, path+": "+leftOut+" (manifest.yaml is the one read)")
		default:
			// The exact names decide, not Lstat: on a case-insensitive
			// file system scripts/ finds Scripts/, which needs renaming.
			do := "rename it to " + known
			if slices.Contains(names, known) {
				do = "move what it holds into " + known + "/"
			}
			return nil, fmt.Errorf("%s: %s (%s)", path, leftOut, do)
		}
	}
	return warnings, nil
}

// otherScripts warns of the files in scripts/ that are not scripts the
// client runs (postinstall.sh, Install.sh). They are shipped, not refused:
// install.sh may source a helper from there, as dpkg-deb carries any file
// of a package's control directory and only lintian warns of unknown ones.
func otherScripts(dir string) []string {
	entries, err := os.ReadDir(filepath.Join(dir, "scripts"))
	if err != nil {
		return nil
	}
	var warnings []string
	for _, e := range entries {
		if !e.Type().IsRegular() || slices.Contains(script.Names, e.Name()) {
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s: not run: clients run only scripts/%s (it is shipped, for them to use)",
			filepath.Join(dir, "scripts", e.Name()), strings.Join(script.Names, " and scripts/")))
	}
	return warnings
}

// nearMiss says which entry of dir was likely meant for want
// (manifest.yml, Manifest.yaml, asset) and to rename it; or else rule. A
// near miss is a typo away, ignoring case: "assets.zip" is not one.
func nearMiss(dir, want, rule string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return rule
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	best := suggest.Typo(want, names)
	if best == "" {
		return rule
	}
	return "found " + best + ": rename it"
}

// Bounds of holdsPackages: the entries of a directory it reads (a home
// directory given by mistake must not cost a stat per file), and the
// packages it names.
const (
	maxScanned = 1000
	maxNamed   = 3
)

// holdsPackages says, for a directory without a manifest.yaml of its own
// or a near miss of one, which of its subdirectories have one: the
// parent of package directories given in their place ("add examples" for
// examples/hello and examples/libgreet, a newcomer's run, which was told
// only that examples/manifest.yaml was missing). "" when none has.
func holdsPackages(dir string) string {
	if nearMiss(dir, "manifest.yaml", "") != "" {
		return "" // a manifest.yml beside: that is the mistake to name
	}
	f, err := os.Open(dir)
	if err != nil {
		return ""
	}
	entries, _ := f.ReadDir(maxScanned)
	f.Close()
	var found []string
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if st, err := os.Stat(filepath.Join(sub, "manifest.yaml")); err == nil && st.Mode().IsRegular() {
			found = append(found, sub)
		}
	}
	if len(found) == 0 {
		return ""
	}
	slices.Sort(found)
	named := strings.Join(found[:min(len(found), maxNamed)], ", ")
	if len(found) > maxNamed {
		named += fmt.Sprintf(" and %d more", len(found)-maxNamed)
	}
	have := fmt.Sprintf("%d directories in it have one", len(found))
	if len(found) == 1 {
		have = "1 directory in it has one"
	}
	return fmt.Sprintf("%s has no manifest.yaml, but %s (%s): give the package directories, not the one that holds them: dist-server add %s",
		dir, have, named, filepath.Join(dir, "*"))
}

func readManifest(path string) ([]byte, error) {
	// Not through a symlink (the scan refuses one later; it was read first,
	// wherever it pointed), nor a FIFO or a device.
	data, err := fsutil.ReadRegular(path, manifest.MaxSize, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, err // Load says what was meant
	case errors.Is(err, fsutil.ErrTooLarge):
		return nil, fmt.Errorf("%s: larger than %d bytes", path, manifest.MaxSize)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	return data, nil
}

// requireDir says what is wrong when rel is not a directory of dir.
func requireDir(dir, rel string) error {
	path := filepath.Join(dir, rel)
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w (%s)", path, errMissing, nearMiss(filepath.Dir(path), filepath.Base(path), "a package needs manifest.yaml and assets/; scripts/ is optional; this directory is required"))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapPath(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: not a directory", path)
	}
	return nil
}

// errMissing is a path that does not exist.
var errMissing = errors.New("missing")

// unwrapPath drops the *PathError wrapper whose path the caller already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
