package cli

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// Completions filters names for shell completion: those that start with
// toComplete, ignoring case (names are unique ignoring case), each once,
// sorted, without the ones already on the command line (args).
func Completions(names, args []string, toComplete string) []cobra.Completion {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	prefix := strings.ToLower(toComplete)
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), prefix) && !slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, n) }) {
			out = append(out, n)
		}
	}
	return out
}

// VersionCompletions offers NAME@VERSION for each of name's versions that
// extends toComplete ("hello@1" gives "hello@1.0.0", "hello@1.1.0").
func VersionCompletions(name string, versions []string, toComplete string) []cobra.Completion {
	var out []cobra.Completion
	for _, v := range versions {
		if c := name + "@" + v; strings.HasPrefix(strings.ToLower(c), strings.ToLower(toComplete)) {
			out = append(out, c)
		}
	}
	return out
}

// NoFileCompletion makes Tab offer nothing for the arguments of root's
// commands that have no completion of their own (dist-client list, sync,
// ...): by default shells would offer the files of the working directory,
// which none of them takes.
func NoFileCompletion(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.ValidArgsFunction == nil {
			c.ValidArgsFunction = cobra.NoFileCompletions
		}
	}
}

// DirCompletion completes directory names only (dist-server add PATH...).
func DirCompletion(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}
