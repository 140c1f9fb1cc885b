package cli

import (
	"errors"
	"testing"

	"github.com/spf13/cobra"
)

// TestArgs: every command words a missing or an extra argument the same
// way, with its usage line; before, info said "want a package name (1
// argument(s)), got 0" where install said "missing package to install".
func TestArgs(t *testing.T) {
	root := &cobra.Command{Use: "prog"}
	info := &cobra.Command{Use: "info NAME[@VERSION]"}
	install := &cobra.Command{Use: "install PKG..."}
	status := &cobra.Command{Use: "status"}
	root.AddCommand(info, install, status)
	for _, tt := range []struct {
		cmd  *cobra.Command
		args cobra.PositionalArgs
		got  []string
		want string // "" for no error
	}{
		{info, ExactArgs(1, "package name"), nil, "missing package name (prog info NAME[@VERSION])"},
		{info, ExactArgs(1, "package name"), []string{"a"}, ""},
		{info, ExactArgs(1, "package name"), []string{"a", "b", "c"}, `unexpected argument "b" (prog info NAME[@VERSION])`},
		{install, MinArgs(1, "package to install"), nil, "missing package to install (prog install PKG...)"},
		{install, MinArgs(1, "package to install"), []string{"a", "b", "c"}, ""},
		{install, Args(1, 2, "package"), []string{"a", "b", "c"}, `unexpected argument "c" (prog install PKG...)`},
		{status, NoArgs, nil, ""},
		{status, NoArgs, []string{"x", "y"}, `unexpected argument "x" (prog status takes none)`},
	} {
		err := tt.args(tt.cmd, tt.got)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s %q: %v, want no error", tt.cmd.Name(), tt.got, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want):
			t.Errorf("%s %q: %v, want %s", tt.cmd.Name(), tt.got, err, tt.want)
		case err != nil && !errors.As(err, new(*UsageError)):
			t.Errorf("%s %q: %v is not a usage error", tt.cmd.Name(), tt.got, err)
		}
	}
}
