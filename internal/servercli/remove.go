package servercli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/publish"
)

func newRemove(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME@VERSION...",
		Short: "Withdraw package versions from the catalog and stop seeding them",
		Long: `remove deletes the given versions from the catalog (all of them, or none when one is
not published), publishes a new signed catalog and
deletes their archives from the store; a running server stops seeding them. Copies
already installed on clients are not touched.`,
		Example: `  dist-server remove hello@1.0.0`,
		Args:    cli.MinArgs(1, "NAME@VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(cmd.Context(), e, args)
		},
	}
}

func runRemove(ctx context.Context, e *env, args []string) error {
	cfg, sp, err := e.config()
	if err != nil {
		return err
	}
	p := &publish.Publisher{Paths: sp, Config: cfg, Logger: e.Logger}
	refs := make([]catalog.Ref, 0, len(args))
	for _, a := range args {
		name, version, ok := strings.Cut(a, "@")
		if !ok || name == "" || version == "" {
			return cli.Usagef("argument %q: want NAME@VERSION, e.g. hello@1.0.0", a)
		}
		refs = append(refs, catalog.Ref{Name: name, Version: version})
	}
	rows, err := p.Remove(ctx, refs)
	if errors.Is(err, catalog.ErrNotFound) {
		return cli.WithHint(fmt.Errorf("%w; nothing removed", err), "dist-server list shows what is published")
	}
	if err != nil {
		return err
	}
	for _, row := range rows {
		e.UI.Printf("removed %s %s\n", row.Name, row.Version)
	}
	waitServed(ctx, e, sp)
	return nil
}
