package servercli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
	"github.com/distpac/distpac/internal/suggest"
	"github.com/distpac/distpac/internal/ui"
)

type removeOptions struct {
	yes  bool // remove every version of a NAME without asking
	json bool
}

func newRemove(e *env) *cobra.Command {
	var o removeOptions
	c := &cobra.Command{
		Use:        "remove NAME[@VERSION]...",
		SuggestFor: []string{"unpublish", "delete"}, // apt, pacman and dnf words
		Short:      "Withdraw package versions from the catalog and stop seeding them",
		Long: `remove deletes the given versions from the catalog (all of them, or none when one is
not published), publishes a new signed catalog and deletes their archives from the
store; a running server stops seeding them. Copies already installed on clients are
not touched. remove also withdraws a row that a hand edit of catalog.db made one
clients refuse; the catalog is published once what is left passes their check.

NAME@VERSION names one version. A bare NAME means every published version of it: remove
lists them and asks for confirmation on a terminal; --yes skips the question, and
without a terminal (a script, a pipe) it refuses unless --yes is given.`,
		Example: `  dist-server remove hello@1.0.0
  dist-server remove hello            # every version, after a [y/N] question
  dist-server remove --yes hello      # every version, no question (scripts)`,
		Args: cli.MinArgs(1, "NAME or NAME@VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(cmd.Context(), e, o, args)
		},
		ValidArgsFunction: e.completePublished,
	}
	c.Flags().BoolVarP(&o.yes, "yes", "y", false, "remove every version of a bare NAME without asking")
	c.Flags().BoolVar(&o.json, "json", false, "print the removed versions as JSON")
	return c
}

func runRemove(ctx context.Context, e *env, o removeOptions, args []string) error {
	// Nothing can be published without a data directory: remove says so
	// and makes none, as the commands that only look do.
	cfg, sp, err := e.inspect("remove", "nothing is published with this data home; dist-server add PATH... publishes packages")
	if err != nil {
		return err
	}
	if err := refuseInMirrorHome(sp, "remove", "run dist-server remove on the primary (the mirror follows its catalog)"); err != nil {
		return err
	}
	refs, whole, err := removeRefs(ctx, sp, args)
	if err != nil {
		return err
	}
	if len(whole) > 0 && !o.yes {
		if err := confirmWhole(e.UI, whole); err != nil {
			return err
		}
	}
	cfgPath, _ := e.configFile()
	p := &publish.Publisher{Paths: sp, Config: cfg, ConfigPath: cfgPath, Logger: e.Logger, OnRaise: e.saidRaise}
	rows, err := p.Remove(ctx, refs)
	if errors.Is(err, catalog.ErrNotFound) {
		return cli.WithHint(fmt.Errorf("%w; nothing removed", err), "dist-server list shows what is published")
	}
	if err != nil {
		return unpublishable(err)
	}
	if o.json {
		type row struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		}
		out := []row{}
		for _, r := range rows {
			out = append(out, row{r.Name, r.Version})
		}
		if err := e.UI.JSON(out); err != nil {
			return err
		}
	} else {
		for _, row := range rows {
			e.UI.Printf("removed %s %s\n", row.Name, row.Version)
		}
	}
	for _, w := range removeWarnings(ctx, sp, rows) {
		e.UI.Warnf("%s\n", w)
	}
	return waitServed(ctx, e, sp, "the versions above are withdrawn")
}

// wholeName is a bare NAME argument: every published version of it.
type wholeName struct {
	name     string
	versions []string
}

func (w wholeName) String() string { return w.name + " " + strings.Join(w.versions, ", ") }

// removeRefs turns the arguments into the versions to remove: NAME@VERSION
// as given, a bare NAME as every version published now (listed in whole,
// for the question). An unpublished NAME is an error with the closest
// published names as a hint, an unpublished VERSION one with the versions
// that are, before anything is asked or removed.
func removeRefs(ctx context.Context, sp paths.Server, args []string) ([]catalog.Ref, []wholeName, error) {
	var refs []catalog.Ref
	var whole []wholeName
	seen := map[catalog.Ref]bool{}
	add := func(r catalog.Ref) {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
	}
	var db *catalog.DB
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	for _, a := range args {
		name, version, hasVersion := strings.Cut(a, "@")
		if name == "" || hasVersion && version == "" {
			return nil, nil, cli.Usagef("argument %q: want NAME or NAME@VERSION, e.g. hello or hello@1.0.0", a)
		}
		if db == nil {
			var err error
			if db, err = openWorking(ctx, sp); err != nil {
				return nil, nil, err
			}
		}
		var rows []catalog.Package
		err := catalog.ErrNotFound
		if db != nil {
			rows, err = db.Versions(ctx, name)
		}
		if errors.Is(err, catalog.ErrNotFound) {
			var names []string
			if db != nil {
				names, _ = db.Names(ctx)
			}
			hint := "dist-server list shows what is published"
			if s := suggest.Phrase(suggest.Closest(name, names, 3)); s != "" {
				hint = s + " (" + hint + ")"
			}
			return nil, nil, cli.WithHint(fmt.Errorf("remove %s: not published; nothing removed", a), hint)
		}
		if err != nil {
			return nil, nil, err
		}
		if hasVersion {
			// A version not published: the error names the ones that are,
			// as the client's info NAME@VERSION does (before, "package not
			// found: hello@9.9.9", worded unlike a bare NAME's).
			var have []string
			for _, r := range rows {
				if r.Version == version {
					have = nil
					break
				}
				have = append(have, r.Version)
			}
			if have != nil {
				return nil, nil, cli.WithHint(fmt.Errorf("remove %s: %s %s is not published; nothing removed", a, rows[0].Name, version),
					fmt.Sprintf("published versions of %s: %s", rows[0].Name, strings.Join(have, ", ")))
			}
			add(catalog.Ref{Name: name, Version: version})
			continue
		}
		w := wholeName{name: rows[0].Name}
		for _, r := range rows {
			add(catalog.Ref{Name: r.Name, Version: r.Version})
			w.versions = append(w.versions, r.Version)
		}
		whole = append(whole, w)
	}
	return refs, whole, nil
}

// confirmWhole asks before every version of a name goes: on a terminal with
// a [y/N] question naming the versions, never without one (--yes is the
// way for scripts).
func confirmWhole(p *ui.Printer, whole []wholeName) error {
	var list []string
	n := 0
	for _, w := range whole {
		list = append(list, w.String())
		n += len(w.versions)
	}
	what := strings.Join(list, "; ")
	ok, err := p.Confirm(fmt.Sprintf("Remove every version (%d): %s?", n, what))
	if errors.Is(err, ui.ErrNoTerminal) {
		return cli.WithHint(fmt.Errorf("remove: would remove every version (%d): %s; not confirmed (no terminal), nothing removed", n, what),
			"add --yes to remove them without a question, or name one version as NAME@VERSION")
	}
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("remove: not confirmed; nothing removed")
	}
	return nil
}
