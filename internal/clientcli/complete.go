package clientcli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/distpac/distpac/internal/catalogclient"
	"github.com/distpac/distpac/internal/cli"
)

// nameSource says where completion takes package names from.
type nameSource int

const (
	catalogOnly         nameSource = iota // install: what can be installed
	installedOnly                         // uninstall, upgrade: what is installed
	catalogAndInstalled                   // info: both
)

// completeNames completes package names for shells (dist-client completion
// bash|zsh|fish) from the local files only: the synced catalog and the
// installed records, never the network, so a Tab press costs a file read.
// After NAME@ it offers NAME's versions from the catalog. maxArgs limits
// how many names the command takes (0: any number); names already on the
// line are not offered again.
func (e *env) completeNames(src nameSource, maxArgs int) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		if name, _, ok := strings.Cut(toComplete, "@"); ok && src != installedOnly {
			return e.completeVersions(ctx, name, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		if src != installedOnly {
			names = e.catalogNames(ctx)
		}
		if src != catalogOnly {
			if st, err := e.installed(); err == nil {
				for _, r := range st.Sorted() {
					names = append(names, r.Name)
				}
			}
		}
		return cli.Completions(names, args, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeVersions offers NAME@VERSION for each catalog version of name.
func (e *env) completeVersions(ctx context.Context, name, toComplete string) []cobra.Completion {
	_, cp, err := e.config()
	if err != nil {
		return nil
	}
	db, err := catalogclient.Open(ctx, cp.Dir)
	if err != nil {
		return nil
	}
	defer db.Close()
	rows, err := db.Versions(ctx, name)
	if err != nil {
		return nil
	}
	versions := make([]string, 0, len(rows))
	for _, r := range rows {
		versions = append(versions, r.Version)
	}
	return cli.VersionCompletions(name, versions, toComplete)
}
