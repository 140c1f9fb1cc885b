package clientcli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/cli"
)

type searchOptions struct{ json bool }

func newSearch(e *env) *cobra.Command {
	var o searchOptions
	c := &cobra.Command{
		Use:        "search TERM",
		SuggestFor: []string{"find"}, // apt, pacman and dnf words
		Short:      "Find packages whose name or description contains TERM",
		Long: `search lists the catalog's package versions whose name or description contains TERM,
ignoring case. Like grep and pacman -Ss, it exits with status 1 when nothing matches
(with --json it still prints an empty list; with -q it prints nothing, as grep -q).`,
		Example: `  dist-client search greet
  dist-client search greet --json | jq -r '.[].name'
  dist-client search -q foo >/dev/null || echo 'no foo'`,
		Args: cli.ExactArgs(1, "search term"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSearch(cmd.Context(), e, o, args)
		},
	}
	c.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return c
}

func runSearch(ctx context.Context, e *env, o searchOptions, args []string) error {
	db, st, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	pkgs, err := db.Search(ctx, args[0])
	if err != nil {
		return err
	}
	if len(pkgs) == 0 {
		if o.json {
			if err := e.UI.JSON([]pkgJSON{}); err != nil {
				return err
			}
		}
		err := fmt.Errorf("no package matches %q", args[0])
		if note := syncedNote(e.syncedAt(ctx), time.Now()); note != "" {
			err = cli.WithHint(err, note)
		}
		if e.Quiet {
			// Nothing to say but the exit status, as grep -q (the
			// example above printed the error and its hint: a
			// newcomer's run).
			return &cli.Quiet{Err: err}
		}
		return err
	}
	return printPackages(e, pkgs, st, o.json)
}
