package cli

// The positional arguments of every command, checked with one wording.

import (
	"strings"

	"github.com/spf13/cobra"
)

// Args checks the number of positional arguments: at least min, at most
// max (max < 0: any number). It is the one wording of a missing or an extra
// argument for every command, with the command's usage line:
//
//	missing package name (dist-client info NAME[@VERSION])
//	unexpected argument "b" (dist-client info NAME[@VERSION])
//	unexpected argument "x" (dist-client status takes none)
//	unexpected argument "http://q" (dist-server mirror URL... takes at most 16)
func Args(min, max int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		use := strings.TrimSuffix(cmd.UseLine(), " [flags]")
		switch {
		case len(args) < min:
			return Usagef("missing %s (%s)", what, use)
		case max == 0 && len(args) > 0:
			return Usagef("unexpected argument %q (%s takes none)", args[0], cmd.CommandPath())
		case max == 1 && len(args) > max:
			return Usagef("unexpected argument %q (%s)", args[max], use)
		case max > 1 && len(args) > max:
			return Usagef("unexpected argument %q (%s takes at most %d)", args[max], use, max)
		}
		return nil
	}
}

// MinArgs requires at least n arguments (Args).
func MinArgs(n int, what string) cobra.PositionalArgs { return Args(n, -1, what) }

// ExactArgs requires exactly n arguments (Args).
func ExactArgs(n int, what string) cobra.PositionalArgs { return Args(n, n, what) }

// NoArgs refuses arguments (Args).
func NoArgs(cmd *cobra.Command, args []string) error { return Args(0, 0, "")(cmd, args) }
