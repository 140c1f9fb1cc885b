package servercli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalog"
	"github.com/distpac/distpac/internal/cli"
	"github.com/distpac/distpac/internal/config"
	"github.com/distpac/distpac/internal/paths"
	"github.com/distpac/distpac/internal/publish"
)

// openWorking opens the server's working catalog; nil, nil when nothing
// was ever published (opening would create it).
func openWorking(ctx context.Context, sp paths.Server) (*catalog.DB, error) {
	if _, err := os.Stat(sp.Catalog()); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return catalog.Open(ctx, sp.Catalog())
}

// isMirrorHome reports whether the data home is a mirror's (dist-server
// mirror made server/mirror/) and has no catalog or signing key of its own.
func isMirrorHome(sp paths.Server) bool {
	if _, err := os.Stat(filepath.Dir(sp.MirrorCatalog())); err != nil {
		return false
	}
	_, errCat := os.Stat(sp.Catalog())
	_, errKey := os.Stat(sp.SigningKey())
	return errors.Is(errCat, os.ErrNotExist) && errors.Is(errKey, os.ErrNotExist)
}

// refuseInMirrorHome refuses command (add, remove, key, key rotate, start:
// whatever publishes or changes the catalog or the signing key) in a
// mirror's data home; instead says what to run. A mirror serves the
// primary's catalog, signed by the primary's key: a key or catalog made
// here would sign and publish nothing the mirror serves, and once made
// they pass the home off as a publisher's, so that key prints a key no
// client should pin and list shows the stray catalog.
func refuseInMirrorHome(sp paths.Server, command, instead string) error {
	if !isMirrorHome(sp) {
		return nil
	}
	return fmt.Errorf("%s: this data home is a mirror's (%s): it has no signing key, and its catalog is signed by the primary's key: %s",
		command, filepath.Dir(sp.MirrorCatalog()), instead)
}

// completePublished completes NAME and NAME@VERSION from the working
// catalog (local files only).
func (e *env) completePublished(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	_, sp, err := e.inspect("", "")
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	db, err := openWorking(ctx, sp)
	if err != nil || db == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer db.Close()
	if name, _, ok := strings.Cut(toComplete, "@"); ok {
		rows, _ := db.Versions(ctx, name)
		versions := make([]string, 0, len(rows))
		for _, r := range rows {
			versions = append(versions, r.Version)
		}
		return cli.VersionCompletions(name, versions, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
	names, _ := db.Names(ctx)
	return cli.Completions(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// publisher is the Publisher of the data home sp with the configuration
// cfg, which says what a raise did (saidRaise) and, while another holds
// the publish lock, waiting.
func (e *env) publisher(cfg *config.Server, sp paths.Server, waiting string) *publish.Publisher {
	cfgPath, _ := e.configFile()
	return &publish.Publisher{Paths: sp, Config: cfg, ConfigPath: cfgPath, Logger: e.Logger, OnRaise: e.saidRaise,
		OnWait: func() { e.UI.Warnf("%s\n", waiting) }}
}

// unpublishable gives a publication refused because clients would refuse
// the catalog (catalog.ErrUnpublishable: catalog.db was edited by hand)
// the operator's ways out.
func unpublishable(err error) error {
	if !errors.Is(err, catalog.ErrUnpublishable) {
		return err
	}
	return cli.WithHint(err, "mend the row named in catalog.db, or withdraw it with dist-server remove NAME@VERSION; until then clients keep the catalog signed before")
}
