// Package stage builds the tree a package version installs, before anything
// in the prefix changes (DESIGN.md §6): it streams the cached archive into a
// work directory while checking its SHA-256, runs scripts/install.sh with
// DISTPAC_DESTDIR set to an empty staging root (the `make install DESTDIR=`
// convention) or, for a package without install.sh, takes assets/ as the
// tree, and records every entry of the result with size, mode and SHA-256.
//
// Scripts written for the old contract write straight into DISTPAC_PREFIX;
// they still work, and the paths they wrote are returned as untracked so the
// caller can warn.
package stage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/distpac/distpac/internal/archive"
	"github.com/distpac/distpac/internal/script"
	"github.com/distpac/distpac/internal/state"
)

// Tree is a staged package: what it places in the prefix.
type Tree struct {
	// Root holds the tree to place: $DISTPAC_DESTDIR$DISTPAC_PREFIX, or the
	// package's assets/ when it has no install.sh. It may not exist (an
	// empty tree).
	Root  string
	Files []state.File // every entry under Root, sorted by path
	Bytes int64        // regular file bytes
	// Scripted says the tree came from install.sh (false when its
	// process ended before it ran: script.ErrNotStarted).
	Scripted bool
	// HasUninstall says the package ships scripts/uninstall.sh.
	HasUninstall bool
	// Untracked lists prefix paths install.sh wrote outside the staging
	// root (the old contract); Untracked is set even when the script failed.
	Untracked []string
}

// Options describe one staging.
type Options struct {
	Name, Version string
	Prefix        string      // the final prefix ($DISTPAC_PREFIX)
	Out           io.Writer   // script output (nil: kept only for errors)
	Log           *script.Log // where script output is kept too (nil: nowhere)
	// Watch notices files install.sh writes straight into the prefix; one
	// Watch (Prefix and Exclude set) serves all of a transaction's scripts.
	// nil: not watched.
	Watch         *Watch
	ScriptTimeout time.Duration
	// Started, when set, is told install.sh's process group before it
	// runs, and Mark is where its process marks its start
	// (script.Env.Started, script.Env.Mark).
	Started func(script.Group) (string, error)
	Mark    *os.File
	// Bounds are the staged tree's: left zero, those of a package; a
	// test sets lower ones. Build sets Under itself.
	Bounds archive.TreeBounds
	// Extracted is what the extraction of the package learnt of its
	// files (Extract with Archive.Digests): a package without
	// install.sh stages its assets/ as they were extracted, and their
	// SHA-256 is taken from it, not read again, for each file still the
	// one extracted. nil: every file is read.
	Extracted *archive.Digests
}

// Build stages the extracted package at pkgDir. The staging root for
// install.sh is made at work/dest (work must be on the prefix's filesystem,
// so that placing the tree is a rename). On a failing script the error is
// the script's and the returned tree carries only Untracked.
func Build(ctx context.Context, pkgDir, work string, o Options) (*Tree, error) {
	t := &Tree{HasUninstall: script.Exists(pkgDir, "uninstall.sh")}
	if !script.Exists(pkgDir, "install.sh") {
		t.Root = filepath.Join(pkgDir, "assets")
		if err := dropPlaceholders(t.Root); err != nil {
			return t, fmt.Errorf("stage %s: %w", o.Name, err)
		}
		return t, t.scan(ctx, o, known{digests: o.Extracted, under: "assets/"})
	}
	t.Scripted = true
	dest := filepath.Join(work, "dest")
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return t, fmt.Errorf("stage %s: %w", o.Name, err)
	}
	t.Root = filepath.Join(dest, strings.TrimPrefix(o.Prefix, "/"))
	if o.Watch != nil {
		o.Watch.Begin()
		o.Watch.Changes() // what appeared since, not this script's
	}
	env := script.Env{Name: o.Name, Version: o.Version, PkgDir: pkgDir, Prefix: o.Prefix, DestDir: dest, Timeout: o.ScriptTimeout, Log: o.Log, Started: o.Started, Mark: o.Mark}
	err := script.Run(ctx, "install.sh", env, o.Out)
	if o.Watch != nil {
		t.Untracked = o.Watch.Changes()
	}
	if errors.Is(err, script.ErrNotStarted) {
		// Its process ended at the gate: nothing of it to undo.
		t.Scripted = false
	}
	if err != nil {
		return t, err
	}
	if err := outsidePrefix(dest, o.Prefix); err != nil {
		return t, fmt.Errorf("install.sh of %s %s: %w", o.Name, o.Version, err)
	}
	// What install.sh made is read whole: it may have copied, linked or
	// changed what was extracted.
	return t, t.scan(ctx, o, known{})
}

// placeholders are the names of the empty file git users put in a
// directory that is to stay empty (git keeps no empty directory), as the
// README suggests for an empty assets/.
var placeholders = []string{".keep", ".gitkeep"}

// dropPlaceholders removes an empty placeholder directly in the assets/ of
// a package installed as its assets tree. Installed, it became PREFIX/.keep,
// owned by the first such package: the second (two packages of depends
// alone, each with an empty assets/) failed ".keep is owned by ...", which
// --overwrite cannot lift. One with content, or deeper in the tree, is the
// package's to ship.
func dropPlaceholders(assets string) error {
	for _, name := range placeholders {
		p := filepath.Join(assets, name)
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue // none, or not a placeholder: scan records it as it is
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// scan records the staged tree, held to o.Bounds; a path must fit under
// the staging root, which placing moves it from, and under the prefix,
// with room beside it for the name it is set aside under later.
func (t *Tree) scan(ctx context.Context, o Options, k known) error {
	bounds := o.Bounds
	bounds.Under = t.Root
	if len(o.Prefix) > len(t.Root) {
		bounds.Under = o.Prefix
	}
	bounds.Placed, bounds.Aside = o.Prefix, state.MaxAsideName
	if _, err := os.Lstat(t.Root); os.IsNotExist(err) {
		return nil
	}
	fi, err := os.Lstat(t.Root)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("staged tree %s is not a directory", t.Root)
	}
	t.Files, t.Bytes, err = scanWithin(ctx, t.Root, bounds, k)
	return err
}

// outsidePrefix refuses anything staged under dest that is not under
// dest+prefix: distpac manages the prefix and nothing else.
func outsidePrefix(dest, prefix string) error {
	dir := dest
	for _, c := range strings.Split(strings.TrimPrefix(prefix, "/"), "/") {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.Name() != c {
				rel, _ := filepath.Rel(dest, filepath.Join(dir, e.Name()))
				return fmt.Errorf("it staged /%s, outside $DISTPAC_DESTDIR$DISTPAC_PREFIX (%s): install files under the prefix", filepath.ToSlash(rel), prefix)
			}
			if !e.IsDir() {
				rel, _ := filepath.Rel(dest, filepath.Join(dir, e.Name()))
				return fmt.Errorf("it staged /%s as %s, where the prefix's directory belongs", filepath.ToSlash(rel), archive.DescribeMode(e.Type()))
			}
		}
		if len(ents) == 0 {
			return nil
		}
		dir = filepath.Join(dir, c)
	}
	return nil
}
